package framework

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
// cycle. It has no lock: writes happen only in PreFilter and PreScore, which
// run on one goroutine before and after the parallel filter phase, whose
// goroutines only read (the runtime's WaitGroup orders the two).
type CycleState struct {
	data map[StateKey]StateData
}

// NewCycleState returns an empty state.
func NewCycleState() *CycleState {
	return &CycleState{data: make(map[StateKey]StateData, 8)}
}

// Read returns the data under key.
func (c *CycleState) Read(key StateKey) (StateData, bool) {
	d, ok := c.data[key]
	return d, ok
}

// Write stores data under key.
func (c *CycleState) Write(key StateKey, d StateData) {
	c.data[key] = d
}

// Clone copies the state, cloning each datum.
func (c *CycleState) Clone() *CycleState {
	out := &CycleState{data: make(map[StateKey]StateData, len(c.data))}
	for k, v := range c.data {
		out.data[k] = v.Clone()
	}
	return out
}
