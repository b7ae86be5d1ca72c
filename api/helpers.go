package api

// ToleratesTaint reports whether the toleration matches the taint: same key
// (or an empty key with Exists, which matches every taint), same effect (or
// an empty effect, which matches every effect), and for Equal the same value.
func (t *Toleration) ToleratesTaint(taint *Taint) bool {
	if t.Effect != "" && t.Effect != taint.Effect {
		return false
	}
	if t.Key != "" && t.Key != taint.Key {
		return false
	}
	switch t.Operator {
	case TolerationOpExists:
		return true
	case TolerationOpEqual, "":
		return t.Key != "" && t.Value == taint.Value
	}
	return false
}
