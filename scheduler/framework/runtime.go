package framework

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
)

// WeightedScore is a score plugin and the weight of its normalized score
// in a candidate's total.
type WeightedScore[T any, N Candidate] struct {
	Plugin ScorePlugin[T, N]
	Weight int64
}

// Profile is the set of plugins run for an item, in order. It is built in
// one explicit registry function per item kind (see scheduler/plugins).
type Profile[T any, N Candidate] struct {
	PreFilters []PreFilterPlugin[T]
	Filters    []FilterPlugin[T, N]
	PreScores  []PreScorePlugin[T, N]
	Scores     []WeightedScore[T, N]
	// PercentageToScore bounds how many feasible candidates are looked for
	// (and so scored) on large clusters: 0 is adaptive (50% on small
	// clusters down to 5% at 5,625+ candidates, never fewer than
	// MinCandidatesToFind); 100 scores every feasible candidate.
	PercentageToScore int
	// Parallelism is how many goroutines filter and score candidates
	// (default GOMAXPROCS).
	Parallelism int
}

// MinCandidatesToFind is the fewest feasible candidates searched for before
// the search stops early, whatever the percentage.
const MinCandidatesToFind = 100

// Framework runs a profile's plugins over candidates to place one item.
type Framework[T any, N Candidate] struct {
	p Profile[T, N]
}

// New returns a framework running the plugins of p.
func New[T any, N Candidate](p Profile[T, N]) *Framework[T, N] {
	if p.Parallelism <= 0 {
		p.Parallelism = runtime.GOMAXPROCS(0)
	}
	return &Framework[T, N]{p: p}
}

// Profile returns the plugins the framework runs.
func (f *Framework[T, N]) Profile() Profile[T, N] { return f.p }

// Result is where an item is to go, and how much of the cluster was looked at.
type Result struct {
	Selected  string
	Evaluated int // candidates filtered
	Feasible  int // candidates that passed every filter
}

// NumToFind is how many feasible candidates to search for among n.
func (f *Framework[T, N]) NumToFind(n int) int {
	if n <= MinCandidatesToFind || f.p.PercentageToScore >= 100 {
		return n
	}
	pct := f.p.PercentageToScore
	if pct <= 0 {
		pct = max(50-n/125, 5)
	}
	return max(n*pct/100, MinCandidatesToFind)
}

// RunPreFilters runs every PreFilter plugin; it returns the plugins that
// asked to be skipped, or the first rejection or error.
func (f *Framework[T, N]) RunPreFilters(ctx context.Context, s *CycleState, item T) (skip map[string]bool, st *Status) {
	for _, pl := range f.p.PreFilters {
		st := pl.PreFilter(ctx, s, item)
		switch {
		case st.IsSkip():
			if skip == nil {
				skip = map[string]bool{}
			}
			skip[pl.Name()] = true
		case !st.IsSuccess():
			return skip, st.WithPlugin(pl.Name())
		}
	}
	return skip, nil
}

// RunFilters runs every Filter plugin not skipped on one candidate and
// returns the first rejection (nil when it fits).
func (f *Framework[T, N]) RunFilters(ctx context.Context, s *CycleState, item T, c N, skip map[string]bool) *Status {
	for _, pl := range f.p.Filters {
		if skip[pl.Name()] {
			continue
		}
		if st := pl.Filter(ctx, s, item, c); !st.IsSuccess() {
			return st.WithPlugin(pl.Name())
		}
	}
	return nil
}

// Schedule picks a candidate for item: it runs the pre-filters, filters
// candidates from a random start until NumToFind fit (in parallel), scores
// those and returns the best, ties broken at random. When none fits it
// returns a *FitError that says why for every candidate.
func (f *Framework[T, N]) Schedule(ctx context.Context, s *CycleState, item T, candidates []N) (Result, error) {
	if len(candidates) == 0 {
		return Result{}, &FitError{NumCandidates: 0}
	}
	skip, st := f.RunPreFilters(ctx, s, item)
	if st != nil {
		if st.Code() == Error {
			return Result{}, fmt.Errorf("prefilter %s: %w", st.Plugin(), st.Err())
		}
		return Result{}, &FitError{NumCandidates: len(candidates), PreFilter: st}
	}
	feasible, rejected, evaluated, err := f.findFeasible(ctx, s, item, candidates, skip)
	if err != nil {
		return Result{}, err
	}
	if len(feasible) == 0 {
		return Result{Evaluated: evaluated}, newFitError(candidates, rejected)
	}
	res := Result{Evaluated: evaluated, Feasible: len(feasible)}
	if len(feasible) == 1 {
		res.Selected = feasible[0].CandidateName()
		return res, nil
	}
	totals, err := f.score(ctx, s, item, feasible)
	if err != nil {
		return Result{}, err
	}
	res.Selected = selectHighest(totals)
	return res, nil
}

// rejection is the status a filter gave candidates[index].
type rejection struct {
	index  int
	status *Status
}

// walkStride is the step of the walk over n candidates: coprime with n, so
// the walk visits each once, and near n/φ, so that a sample that stops
// early is spread over the whole list rather than one run of it. Lists are
// in the order candidates were added, often pool by pool or host by host;
// a contiguous sample would then look at one hypervisor only, and spreading
// over hypervisors would fail on large clusters (Kubernetes interleaves
// zones in its node tree for the same reason).
func walkStride(n int) int {
	if n <= 2 {
		return 1
	}
	for s := n * 618 / 1000; s > 1; s-- {
		if gcd(s, n) == 1 {
			return s
		}
	}
	return 1
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// findFeasible filters candidates from a random offset with Parallelism
// workers, stopping once NumToFind candidates fit. It returns the
// rejections of the candidates evaluated that did not fit.
func (f *Framework[T, N]) findFeasible(ctx context.Context, s *CycleState, item T, candidates []N, skip map[string]bool) ([]N, []rejection, int, error) {
	n := len(candidates)
	want := f.NumToFind(n)
	start, stride := rand.IntN(n), walkStride(n)
	if len(f.p.Filters) == len(skip) {
		// Nothing filters: take want candidates from the start.
		out := make([]N, 0, want)
		for i := 0; i < want; i++ {
			out = append(out, candidates[(start+i*stride)%n])
		}
		return out, nil, want, nil
	}
	var (
		next, found atomic.Int64
		firstErr    atomic.Pointer[Status]
		mu          sync.Mutex
		feasible    = make([]N, 0, want)
		rejected    []rejection
	)
	const chunk = 16
	work := func() {
		local := make([]N, 0, chunk)
		var localRej []rejection
		defer func() {
			if len(localRej) > 0 {
				mu.Lock()
				rejected = append(rejected, localRej...)
				mu.Unlock()
			}
		}()
		for found.Load() < int64(want) && firstErr.Load() == nil {
			from := int(next.Add(chunk)) - chunk
			if from >= n {
				return
			}
			local = local[:0]
			for j := from; j < min(from+chunk, n); j++ {
				i := (start + j*stride) % n
				st := f.RunFilters(ctx, s, item, candidates[i], skip)
				switch {
				case st.IsSuccess():
					local = append(local, candidates[i])
				case st.Code() == Error:
					firstErr.CompareAndSwap(nil, st)
					return
				default:
					localRej = append(localRej, rejection{i, st})
				}
			}
			if len(local) > 0 {
				mu.Lock()
				feasible = append(feasible, local...)
				mu.Unlock()
				found.Add(int64(len(local)))
			}
		}
	}
	workers := min(f.p.Parallelism, (n+chunk-1)/chunk)
	if workers <= 1 {
		work()
	} else {
		var wg sync.WaitGroup
		for range workers {
			wg.Go(work)
		}
		wg.Wait()
	}
	if st := firstErr.Load(); st != nil {
		return nil, nil, 0, fmt.Errorf("filter %s: %w", st.Plugin(), st.Err())
	}
	evaluated := min(int(next.Load()), n)
	if len(feasible) > want {
		feasible = feasible[:want]
	}
	return feasible, rejected, evaluated, nil
}

// score runs the pre-score and score plugins over the feasible candidates
// and returns each one's weighted total.
func (f *Framework[T, N]) score(ctx context.Context, s *CycleState, item T, feasible []N) ([]CandidateScore, error) {
	skip := map[string]bool{}
	for _, pl := range f.p.PreScores {
		st := pl.PreScore(ctx, s, item, feasible)
		switch {
		case st.IsSkip():
			skip[pl.Name()] = true
		case !st.IsSuccess():
			return nil, fmt.Errorf("prescore %s: %w", pl.Name(), st.Err())
		}
	}
	totals := make([]CandidateScore, len(feasible))
	for i, c := range feasible {
		totals[i].Name = c.CandidateName()
	}
	scores := make([]CandidateScore, len(feasible))
	for _, ws := range f.p.Scores {
		if skip[ws.Plugin.Name()] {
			continue
		}
		for i, c := range feasible {
			v, st := ws.Plugin.Score(ctx, s, item, c)
			if !st.IsSuccess() {
				return nil, fmt.Errorf("score %s on %s: %w", ws.Plugin.Name(), c.CandidateName(), st.Err())
			}
			scores[i] = CandidateScore{Name: totals[i].Name, Score: v}
		}
		if norm, ok := ws.Plugin.(ScoreNormalizer[T]); ok {
			if st := norm.NormalizeScore(ctx, s, item, scores); !st.IsSuccess() {
				return nil, fmt.Errorf("normalize %s: %w", ws.Plugin.Name(), st.Err())
			}
		}
		for i := range scores {
			totals[i].Score += scores[i].Score * ws.Weight
		}
	}
	return totals, nil
}

// selectHighest returns the name with the highest total, choosing among
// equal totals uniformly at random (reservoir sampling) so that ties do not
// pile onto one candidate.
func selectHighest(totals []CandidateScore) string {
	best, ties := 0, 1
	for i := 1; i < len(totals); i++ {
		switch {
		case totals[i].Score > totals[best].Score:
			best, ties = i, 1
		case totals[i].Score == totals[best].Score:
			ties++
			if rand.IntN(ties) == 0 {
				best = i
			}
		}
	}
	return totals[best].Name
}
