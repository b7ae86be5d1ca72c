package api

import (
	"encoding/json"
	"strconv"
	"time"
)

// microFormat is MicroTime's serialized form: RFC 3339 with six fractional
// digits, as Kubernetes' MicroTime.
const microFormat = "2006-01-02T15:04:05.000000Z07:00"

// MicroTime is a timestamp serialized as RFC 3339 in UTC with microsecond
// precision, for the few fields where seconds are too coarse (latencies).
type MicroTime struct {
	time.Time
}

// NewMicroTime wraps t at the serialized precision.
func NewMicroTime(t time.Time) MicroTime { return MicroTime{t.UTC().Truncate(time.Microsecond)} }

// MarshalJSON writes the time, or null when zero.
func (t MicroTime) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return []byte(strconv.Quote(t.UTC().Format(microFormat))), nil
}

// UnmarshalJSON reads an RFC 3339 string (any fractional precision) or
// null.
func (t *MicroTime) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = MicroTime{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	p, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return err
	}
	*t = MicroTime{p.UTC()}
	return nil
}
