package framework

import "sync"

// StateKey names a piece of per-cycle data.
type StateKey string

// StateData is per-cycle data a plugin computes in PreFilter or PreScore
// and reads in Filter or Score. Clone must return a copy that can be
// changed without changing the original (preemption simulates removals on
// a clone); data that is never changed after PreFilter may return itself.
type StateData interface {
	Clone() StateData
}

// CycleState carries data between the extension points of one scheduling
// cycle. Reads may happen from the parallel filter goroutines; writes
// happen in PreFilter and PreScore, which run on one goroutine.
type CycleState struct {
	mu   sync.RWMutex
	data map[StateKey]StateData
}

// NewCycleState returns an empty state.
func NewCycleState() *CycleState {
	return &CycleState{data: make(map[StateKey]StateData, 8)}
}

// Read returns the data under key.
func (c *CycleState) Read(key StateKey) (StateData, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	d, ok := c.data[key]
	return d, ok
}

// Write stores data under key.
func (c *CycleState) Write(key StateKey, d StateData) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.data[key] = d
}

// Clone copies the state, cloning each datum.
func (c *CycleState) Clone() *CycleState {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := &CycleState{data: make(map[StateKey]StateData, len(c.data))}
	for k, v := range c.data {
		out.data[k] = v.Clone()
	}
	return out
}
