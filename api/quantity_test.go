package api

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
)

func TestParseQuantity(t *testing.T) {
	tests := []struct {
		in    string
		milli int64
		value int64
		str   string
	}{
		{"0", 0, 0, "0"},
		{"250m", 250, 1, "250m"},
		{"1", 1000, 1, "1"},
		{"0.5", 500, 1, "0.5"},
		{".5", 500, 1, ".5"},
		{"2.", 2000, 2, "2."},
		{"+1k", 1000000, 1000, "+1k"},
		{"-1", -1000, -1, "-1"},
		{"-1.5", -1500, -2, "-1.5"},
		{"100n", 1, 1, "100n"},
		{"1.5n", 1, 1, "1.5n"},
		{"3u", 1, 1, "3u"},
		{"512Mi", 536870912000, 536870912, "512Mi"},
		{"1Gi", 1073741824000, 1073741824, "1Gi"},
		{"1.5Gi", 1610612736000, 1610612736, "1.5Gi"},
		{"0.1Ki", 102400, 103, "0.1Ki"},
		{"1e3", 1000000, 1000, "1e3"},
		{"1E3", 1000000, 1000, "1E3"},
		{"1e+06", 1000000000, 1000000, "1e+06"},
		{"25e-3", 25, 1, "25e-3"},
		{"1e-1000", 1, 1, "1e-1000"},
		{"5G", 5000000000000, 5000000000, "5G"},
		{"7Ei", math.MaxInt64, 7 << 60, "7Ei"},
		{"1E", math.MaxInt64, 1000000000000000000, "1E"},
		{"9223372036854775807", math.MaxInt64, math.MaxInt64, "9223372036854775807"},
		{"007", 7000, 7, "007"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			q, err := ParseQuantity(tt.in)
			if err != nil {
				t.Fatalf("ParseQuantity(%q): %v", tt.in, err)
			}
			if got := q.MilliValue(); got != tt.milli {
				t.Errorf("MilliValue() = %d, want %d", got, tt.milli)
			}
			if got := q.Value(); got != tt.value {
				t.Errorf("Value() = %d, want %d", got, tt.value)
			}
			if got := q.String(); got != tt.str {
				t.Errorf("String() = %q, want %q", got, tt.str)
			}
		})
	}
}

func TestParseQuantityErrors(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{"", ErrQuantityFormat},
		{"abc", ErrQuantityFormat},
		{"one", ErrQuantityFormat},
		{"1x", ErrQuantityFormat},
		{"12 GiB", ErrQuantityFormat},
		{"1Kb", ErrQuantityFormat},
		{".", ErrQuantityFormat},
		{"1.2.3", ErrQuantityFormat},
		{"--1", ErrQuantityFormat},
		{"1K", ErrQuantitySuffix},
		{"1e", ErrQuantitySuffix},
		{"1Mii", ErrQuantitySuffix},
		{"1e1000", ErrQuantityRange},
		{"8Ei", ErrQuantityRange},
		{"9.3E", ErrQuantityRange},
		{"9223372036854775808", ErrQuantityRange},
		{"-9223372036854775809", ErrQuantityRange},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseQuantity(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParseQuantity(%q) error = %v, want %v", tt.in, err, tt.want)
			}
		})
	}
}

func TestQuantityCmp(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1Gi", "1024Mi", 0},
		{"1", "1000m", 0},
		{"1k", "1e3", 0},
		{"500m", "1", -1},
		{"2", "1999m", 1},
		{"-1", "0", -1},
		{"1n", "0", 1},
		{"1G", "1Gi", -1},
	}
	for _, tt := range tests {
		t.Run(tt.a+" vs "+tt.b, func(t *testing.T) {
			a, b := MustParseQuantity(tt.a), MustParseQuantity(tt.b)
			if got := a.Cmp(b); got != tt.want {
				t.Errorf("Cmp = %d, want %d", got, tt.want)
			}
			if got := b.Cmp(a); got != -tt.want {
				t.Errorf("reverse Cmp = %d, want %d", got, -tt.want)
			}
		})
	}
}

func TestQuantitySignZero(t *testing.T) {
	var zero Quantity
	if !zero.IsZero() || zero.Sign() != 0 || zero.String() != "0" || zero.MilliValue() != 0 {
		t.Errorf("zero Quantity: IsZero=%v Sign=%d String=%q", zero.IsZero(), zero.Sign(), zero.String())
	}
	if q := MustParseQuantity("0Mi"); !q.IsZero() || !q.Equal(zero) {
		t.Errorf("0Mi should be zero")
	}
	if q := MustParseQuantity("-5m"); q.Sign() != -1 || q.IsZero() {
		t.Errorf("-5m: Sign = %d", q.Sign())
	}
}

func TestQuantityFormatting(t *testing.T) {
	tests := []struct {
		name string
		q    Quantity
		want string
	}{
		{"decimal kilo", NewQuantity(1000, DecimalSI), "1k"},
		{"decimal plain", NewQuantity(1234, DecimalSI), "1234"},
		{"decimal zero", NewQuantity(0, DecimalSI), "0"},
		{"binary gibi", NewQuantity(1<<30, BinarySI), "1Gi"},
		{"binary not exact", NewQuantity(1536, BinarySI), "1536"},
		{"binary small", NewQuantity(512, BinarySI), "512"},
		{"exponent", NewQuantity(5000, DecimalExponent), "5e3"},
		{"milli", NewMilliQuantity(250, DecimalSI), "250m"},
		{"milli whole", NewMilliQuantity(2000, DecimalSI), "2"},
		{"milli negative", NewMilliQuantity(-1500, DecimalSI), "-1500m"},
		{"sum", MustParseQuantity("250m").Add(MustParseQuantity("750m")), "1"},
		{"difference", MustParseQuantity("1Gi").Sub(MustParseQuantity("512Mi")), "512Mi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.q.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			back, err := ParseQuantity(tt.q.String())
			if err != nil || back.Cmp(tt.q) != 0 {
				t.Errorf("String() does not parse back to the same value: %v", err)
			}
		})
	}
}

func TestQuantityJSON(t *testing.T) {
	type holder struct {
		Q Quantity `json:"q"`
	}
	tests := []struct {
		in      string
		want    string // String() after decoding
		wantErr bool
	}{
		{`{"q":"250m"}`, "250m", false},
		{`{"q":0.5}`, "0.5", false},
		{`{"q":2}`, "2", false},
		{`{"q":"1Gi"}`, "1Gi", false},
		{`{"q":null}`, "0", false},
		{`{"q":"one"}`, "", true},
		{`{"q":true}`, "", true},
		{`{"q":"8Ei"}`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var h holder
			err := json.Unmarshal([]byte(tt.in), &h)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Unmarshal error = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if got := h.Q.String(); got != tt.want {
				t.Errorf("decoded %q, want %q", got, tt.want)
			}
			out, _ := json.Marshal(h)
			if want := `{"q":"` + tt.want + `"}`; string(out) != want {
				t.Errorf("Marshal = %s, want %s", out, want)
			}
		})
	}
}

func TestResourceListHelpers(t *testing.T) {
	l := ResourceList{"cpu": MustParseQuantity("2"), "memory": MustParseQuantity("1Gi")}
	if got := l.Cpu().MilliValue(); got != 2000 {
		t.Errorf("Cpu() = %d milli", got)
	}
	if got := l.Memory().Value(); got != 1<<30 {
		t.Errorf("Memory() = %d", got)
	}
	var empty ResourceList
	if !empty.Cpu().IsZero() {
		t.Errorf("Cpu() of empty list should be zero")
	}
}

func TestMustParseQuantityPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Errorf("MustParseQuantity did not panic on bad input")
		}
	}()
	MustParseQuantity("bogus")
}
