package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Errors returned by ParseQuantity, worded as Kubernetes words them.
var (
	ErrQuantityFormat  = errors.New("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
	ErrQuantitySuffix  = errors.New("unable to parse quantity's suffix")
	ErrQuantityNumeric = errors.New("unable to parse numeric part of quantity")
	ErrQuantityRange   = errors.New("quantity is too large: its value must fit in a signed 64-bit integer")
)

// QuantityFormat says how a computed quantity is printed.
type QuantityFormat string

// Quantity formats, as in Kubernetes.
const (
	DecimalSI       QuantityFormat = "DecimalSI"       // 250m, 1k, 5G
	BinarySI        QuantityFormat = "BinarySI"        // 512Mi, 1Gi
	DecimalExponent QuantityFormat = "DecimalExponent" // 1e3
)

// Quantity is an exact decimal amount of a resource written in Kubernetes
// quantity syntax: "250m" CPU, "512Mi" memory, "1e3". The value is held with
// nano precision (finer input is rounded away from zero) and must fit a signed
// 64-bit integer. The zero value is 0. A Quantity is immutable; compare
// quantities with Cmp or Equal, not ==.
type Quantity struct {
	nanos  *big.Int // value × 10^9; nil means 0
	text   string   // the text it was parsed from, printed back unchanged
	format QuantityFormat
}

// nanosPer returns 10^(9-e): how many nanos one unit of 10^-e is worth, e.g.
// nanosPer(0) is 10^9 and nanosPer(3) (milli) is 10^6.
func nanosPer(e int) *big.Int { return pow10(9 - e) }

// quantityLimit bounds |value| in nanos: the value must fit an int64. It
// is computed once and never modified.
var quantityLimit = new(big.Int).Mul(new(big.Int).Lsh(big.NewInt(1), 63), nanosPer(0))

// decimalSuffix returns the power of ten a decimal suffix stands for.
func decimalSuffix(s string) (int, bool) {
	switch s {
	case "n":
		return -9, true
	case "u":
		return -6, true
	case "m":
		return -3, true
	case "":
		return 0, true
	case "k":
		return 3, true
	case "M":
		return 6, true
	case "G":
		return 9, true
	case "T":
		return 12, true
	case "P":
		return 15, true
	case "E":
		return 18, true
	}
	return 0, false
}

// binarySuffix returns the power of two a binary suffix stands for.
func binarySuffix(s string) (uint, bool) {
	switch s {
	case "Ki":
		return 10, true
	case "Mi":
		return 20, true
	case "Gi":
		return 30, true
	case "Ti":
		return 40, true
	case "Pi":
		return 50, true
	case "Ei":
		return 60, true
	}
	return 0, false
}

// ParseQuantity parses Kubernetes quantity syntax: an optional sign, a
// decimal number and a suffix that is binary (Ki Mi Gi Ti Pi Ei), decimal
// (n u m k M G T P E) or an exponent (e3, E-2).
func ParseQuantity(s string) (Quantity, error) {
	if s == "" {
		return Quantity{}, ErrQuantityFormat
	}
	num, suffix, ok := splitQuantity(s)
	if !ok {
		return Quantity{}, ErrQuantityFormat
	}
	neg := false
	switch num[0] {
	case '-':
		neg = true
		num = num[1:]
	case '+':
		num = num[1:]
	}
	whole, frac, _ := strings.Cut(num, ".")
	if whole+frac == "" || strings.Contains(frac, ".") {
		return Quantity{}, ErrQuantityFormat
	}
	// digits as an integer, scaled down by len(frac) decimal places
	digits, ok := new(big.Int).SetString(whole+frac, 10)
	if !ok {
		return Quantity{}, ErrQuantityNumeric
	}
	exp10, shift2, format, err := parseSuffix(suffix)
	if err != nil {
		return Quantity{}, err
	}
	// value = digits × 10^(exp10 - len(frac)) × 2^shift2; in nanos add 9 to the power.
	p := exp10 - len(frac) + 9
	n := digits.Lsh(digits, shift2)
	if p >= 0 {
		if p > 40 && n.Sign() != 0 {
			return Quantity{}, ErrQuantityRange
		}
		n.Mul(n, pow10(p))
	} else {
		n = quoAwayFromZero(n, pow10(-p))
	}
	if n.CmpAbs(quantityLimit) >= 0 {
		return Quantity{}, ErrQuantityRange
	}
	if neg {
		n.Neg(n)
	}
	return Quantity{nanos: n, text: s, format: format}, nil
}

// splitQuantity separates the numeric part from the suffix.
func splitQuantity(s string) (num, suffix string, ok bool) {
	i := 0
	if s[0] == '+' || s[0] == '-' {
		i++
	}
	start := i
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	if i == start {
		return "", "", false
	}
	return s[:i], s[i:], true
}

// parseSuffix returns the power of ten and of two a suffix stands for.
func parseSuffix(suffix string) (exp10 int, shift2 uint, format QuantityFormat, err error) {
	if e, ok := decimalSuffix(suffix); ok {
		return e, 0, DecimalSI, nil
	}
	if b, ok := binarySuffix(suffix); ok {
		return 0, b, BinarySI, nil
	}
	if len(suffix) > 1 && (suffix[0] == 'e' || suffix[0] == 'E') {
		e, err := strconv.Atoi(suffix[1:])
		if err != nil {
			return 0, 0, "", ErrQuantitySuffix
		}
		if e > 40 || e < -40 {
			if e > 0 {
				return 0, 0, "", ErrQuantityRange
			}
			// far below nano precision: rounds to the smallest unit
			e = -40
		}
		return e, 0, DecimalExponent, nil
	}
	for _, c := range suffix {
		if !strings.ContainsRune("eEinumkKMGTP+-0123456789", c) {
			return 0, 0, "", ErrQuantityFormat
		}
	}
	return 0, 0, "", ErrQuantitySuffix
}

// pow10Table holds 10^0 .. 10^63, computed once and never modified: parsing
// a quantity is on the path of every pod read.
var pow10Table = func() []*big.Int {
	t := make([]*big.Int, 64)
	t[0] = big.NewInt(1)
	for i := 1; i < len(t); i++ {
		t[i] = new(big.Int).Mul(t[i-1], big.NewInt(10))
	}
	return t
}()

// pow10 returns 10^n; callers must not modify the result.
func pow10(n int) *big.Int {
	if n >= 0 && n < len(pow10Table) {
		return pow10Table[n]
	}
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
}

// quoAwayFromZero divides, rounding any remainder away from zero.
func quoAwayFromZero(n, d *big.Int) *big.Int {
	q, r := new(big.Int).QuoRem(n, d, new(big.Int))
	if r.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	} else if r.Sign() < 0 {
		q.Sub(q, big.NewInt(1))
	}
	return q
}

// MustParseQuantity is ParseQuantity for constants in code and tests; it
// panics on a malformed quantity.
func MustParseQuantity(s string) Quantity {
	q, err := ParseQuantity(s)
	if err != nil {
		panic("api: MustParseQuantity(" + strconv.Quote(s) + "): " + err.Error())
	}
	return q
}

// NewQuantity returns value units printed in the given format (DecimalSI
// prints 1000 as "1k", BinarySI prints 1073741824 as "1Gi").
func NewQuantity(value int64, format QuantityFormat) Quantity {
	n := new(big.Int).Mul(big.NewInt(value), nanosPer(0))
	return Quantity{nanos: n, format: format}
}

// NewMilliQuantity returns milli thousandths of a unit, e.g. 250 is "250m"
// CPU.
func NewMilliQuantity(milli int64, format QuantityFormat) Quantity {
	n := new(big.Int).Mul(big.NewInt(milli), nanosPer(3))
	return Quantity{nanos: n, format: format}
}

func (q Quantity) bigNanos() *big.Int {
	if q.nanos == nil {
		return new(big.Int)
	}
	return q.nanos
}

// Value returns the value in whole units, rounded away from zero
// ("100m" is 1).
func (q Quantity) Value() int64 {
	return clampInt64(quoAwayFromZero(q.bigNanos(), nanosPer(0)))
}

// MilliValue returns the value in thousandths of a unit, rounded away from
// zero; values beyond the int64 range saturate.
func (q Quantity) MilliValue() int64 {
	return clampInt64(quoAwayFromZero(q.bigNanos(), nanosPer(3)))
}

func clampInt64(n *big.Int) int64 {
	if n.IsInt64() {
		return n.Int64()
	}
	if n.Sign() > 0 {
		return math.MaxInt64
	}
	return math.MinInt64
}

// IsZero reports whether the value is zero.
func (q Quantity) IsZero() bool { return q.nanos == nil || q.nanos.Sign() == 0 }

// Sign returns -1, 0 or +1.
func (q Quantity) Sign() int { return q.bigNanos().Sign() }

// Cmp compares values: -1 if q < other, 0 if equal ("1Gi" equals
// "1024Mi"), +1 if q > other.
func (q Quantity) Cmp(other Quantity) int { return q.bigNanos().Cmp(other.bigNanos()) }

// Equal reports whether both quantities have the same value.
func (q Quantity) Equal(other Quantity) bool { return q.Cmp(other) == 0 }

// Add returns q + other, printed in q's format (or other's when q has none).
// The sum is not range-checked; Value and MilliValue saturate.
func (q Quantity) Add(other Quantity) Quantity {
	return Quantity{nanos: new(big.Int).Add(q.bigNanos(), other.bigNanos()), format: q.formatOr(other)}
}

// Sub returns q - other, printed in q's format (or other's when q has none).
func (q Quantity) Sub(other Quantity) Quantity {
	return Quantity{nanos: new(big.Int).Sub(q.bigNanos(), other.bigNanos()), format: q.formatOr(other)}
}

func (q Quantity) formatOr(other Quantity) QuantityFormat {
	if q.format != "" {
		return q.format
	}
	return other.format
}

// Format returns how the quantity is printed when it has no original text.
func (q Quantity) Format() QuantityFormat {
	if q.format == "" {
		return DecimalSI
	}
	return q.format
}

// String returns the text the quantity was parsed from, or, for a computed
// quantity, its canonical form ("250m", "512Mi", "1k").
func (q Quantity) String() string {
	if q.text != "" {
		return q.text
	}
	return q.canonical()
}

// canonical prints the value with the largest suffix that keeps it exact.
func (q Quantity) canonical() string {
	n := q.bigNanos()
	if n.Sign() == 0 {
		return "0"
	}
	abs := new(big.Int).Abs(n)
	sign := ""
	if n.Sign() < 0 {
		sign = "-"
	}
	if q.Format() == BinarySI {
		units, rem := new(big.Int).QuoRem(abs, nanosPer(0), new(big.Int))
		if rem.Sign() == 0 && units.Cmp(big.NewInt(1024)) >= 0 {
			for _, s := range []string{"Ei", "Pi", "Ti", "Gi", "Mi", "Ki"} {
				b, _ := binarySuffix(s)
				d := new(big.Int).Lsh(big.NewInt(1), b)
				if v, r := new(big.Int).QuoRem(units, d, new(big.Int)); r.Sign() == 0 {
					return sign + v.String() + s
				}
			}
		}
	}
	if q.Format() == DecimalExponent {
		for e := 18; e >= -9; e -= 3 {
			if v, r := new(big.Int).QuoRem(abs, pow10(e+9), new(big.Int)); r.Sign() == 0 {
				if e == 0 {
					return sign + v.String()
				}
				return sign + v.String() + "e" + strconv.Itoa(e)
			}
		}
	}
	for _, s := range []string{"E", "P", "T", "G", "M", "k", "", "m", "u", "n"} {
		e, _ := decimalSuffix(s)
		d := pow10(e + 9)
		if v, r := new(big.Int).QuoRem(abs, d, new(big.Int)); r.Sign() == 0 {
			return sign + v.String() + s
		}
	}
	return sign + abs.String() + "n" // unreachable: nanos always divide
}

// MarshalJSON writes the quantity as a JSON string.
func (q Quantity) MarshalJSON() ([]byte, error) {
	return []byte(strconv.Quote(q.String())), nil
}

// UnmarshalJSON reads a quantity from a JSON string or number; null is 0.
func (q *Quantity) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		*q = Quantity{}
		return nil
	}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	p, err := ParseQuantity(strings.TrimSpace(s))
	if err != nil {
		return err
	}
	*q = p
	return nil
}

// ResourceList maps a resource name ("cpu", "memory", "ephemeral-storage")
// to an amount.
type ResourceList map[string]Quantity

// Resource names this API knows.
const (
	ResourceCPU              = "cpu"
	ResourceMemory           = "memory"
	ResourceEphemeralStorage = "ephemeral-storage"
	ResourcePods             = "pods"
)

// Cpu returns the "cpu" amount, or 0.
func (l ResourceList) Cpu() Quantity { return l[ResourceCPU] }

// Memory returns the "memory" amount, or 0.
func (l ResourceList) Memory() Quantity { return l[ResourceMemory] }
