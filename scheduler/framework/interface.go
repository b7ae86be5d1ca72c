package framework

import "context"

// Candidate is what an item is placed on: a node for pods, a hypervisor
// for VMs.
type Candidate interface {
	// CandidateName is the node's (or hypervisor's) name.
	CandidateName() string
}

// Plugin is one idea of the pipeline.
type Plugin interface {
	Name() string
}

// PreFilterPlugin computes per-item data once before the candidates are
// filtered. Returning Skip means its Filter is not called for this item;
// a rejection rejects the item on every candidate.
type PreFilterPlugin[T any] interface {
	Plugin
	PreFilter(ctx context.Context, s *CycleState, item T) *Status
}

// FilterPlugin says whether item may go on candidate c, and if not, why.
// It is called concurrently for different candidates.
type FilterPlugin[T any, N Candidate] interface {
	Plugin
	Filter(ctx context.Context, s *CycleState, item T, c N) *Status
}

// PreScorePlugin computes per-item data over the feasible candidates before
// they are scored. Returning Skip means its Score is not called.
type PreScorePlugin[T any, N Candidate] interface {
	Plugin
	PreScore(ctx context.Context, s *CycleState, item T, feasible []N) *Status
}

// ScorePlugin ranks a feasible candidate; higher is better. Scores are
// expected in [0, MaxScore] after normalization.
type ScorePlugin[T any, N Candidate] interface {
	Plugin
	Score(ctx context.Context, s *CycleState, item T, c N) (int64, *Status)
}

// ScoreNormalizer is the optional extension of a ScorePlugin that rescales
// its raw scores over all candidates (found by type assertion).
type ScoreNormalizer[T any] interface {
	NormalizeScore(ctx context.Context, s *CycleState, item T, scores []CandidateScore) *Status
}

// MaxScore is the highest normalized score a plugin gives.
const MaxScore int64 = 100

// CandidateScore is one candidate's score from one plugin (or in total).
type CandidateScore struct {
	Name  string
	Score int64
}

// DefaultNormalizeScore rescales scores to [0, MaxScore] by the largest
// one; reverse makes the largest raw score the worst.
func DefaultNormalizeScore(maxPriority int64, reverse bool, scores []CandidateScore) {
	var highest int64
	for _, s := range scores {
		highest = max(highest, s.Score)
	}
	if highest == 0 {
		if reverse {
			for i := range scores {
				scores[i].Score = maxPriority
			}
		}
		return
	}
	for i := range scores {
		v := maxPriority * scores[i].Score / highest
		if reverse {
			v = maxPriority - v
		}
		scores[i].Score = v
	}
}
