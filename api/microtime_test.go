package api

import (
	"encoding/json"
	"testing"
	"time"
)

func TestMicroTimeRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 27, 10, 30, 5, 123456789, time.FixedZone("x", 3600))
	b, err := json.Marshal(NewMicroTime(at))
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `"2026-11-27T09:30:05.123456Z"` {
		t.Fatalf("marshalled %s", b)
	}
	var got MicroTime
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if want := at.Truncate(time.Microsecond); !got.Equal(want) {
		t.Fatalf("round trip %v, want %v", got, want)
	}
	for in, want := range map[string]time.Time{`null`: {}, `"2026-11-27T09:30:05Z"`: time.Date(2026, 11, 27, 9, 30, 5, 0, time.UTC)} {
		var m MicroTime
		if err := json.Unmarshal([]byte(in), &m); err != nil || !m.Equal(want) {
			t.Errorf("unmarshal %s: %v %v, want %v", in, m, err, want)
		}
	}
	if b, _ := json.Marshal(MicroTime{}); string(b) != "null" {
		t.Errorf("zero marshalled %s", b)
	}
	var m MicroTime
	if err := json.Unmarshal([]byte(`"yesterday"`), &m); err == nil {
		t.Error("unmarshal of a non-time: no error")
	}
}
