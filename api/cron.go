package api

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// CronSchedule is a parsed standard 5-field cron expression (minute, hour,
// day of month, month, day of week). Each field is a set of allowed values.
type CronSchedule struct {
	minute, hour, dom, month, dow uint64
	// domStar and dowStar record a day field written as * (or ?): then a
	// day must match both fields; otherwise either, as in cron.
	domStar, dowStar bool
}

type cronField struct {
	name     string
	min, max int
	names    map[string]int
}

var (
	cronMinute = cronField{name: "minute", min: 0, max: 59}
	cronHour   = cronField{name: "hour", min: 0, max: 23}
	cronDom    = cronField{name: "day of month", min: 1, max: 31}
	cronMonth  = cronField{name: "month", min: 1, max: 12, names: map[string]int{
		"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
		"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}}
	// Day of week accepts 7 for Sunday, folded onto 0.
	cronDow = cronField{name: "day of week", min: 0, max: 7, names: map[string]int{
		"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}}
)

var cronDescriptors = map[string]string{
	"@yearly":   "0 0 1 1 *",
	"@annually": "0 0 1 1 *",
	"@monthly":  "0 0 1 * *",
	"@weekly":   "0 0 * * 0",
	"@daily":    "0 0 * * *",
	"@midnight": "0 0 * * *",
	"@hourly":   "0 * * * *",
}

// ParseCronSchedule parses a standard cron expression: five fields of
// values, names (jan-dec, sun-sat), ranges (a-b), steps (*/n, a-b/n, a/n)
// and lists (a,b), or one of @yearly, @annually, @monthly, @weekly,
// @daily, @midnight and @hourly. The error says which field is wrong.
func ParseCronSchedule(expr string) (*CronSchedule, error) {
	expr = strings.TrimSpace(expr)
	if strings.HasPrefix(expr, "@") {
		d, ok := cronDescriptors[strings.ToLower(expr)]
		if !ok {
			return nil, fmt.Errorf("unrecognized descriptor %q (want one of @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly)", expr)
		}
		expr = d
	}
	if strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ=") {
		return nil, fmt.Errorf("a time zone may not be given in the schedule; use spec.timeZone")
	}
	f := strings.Fields(expr)
	if len(f) != 5 {
		return nil, fmt.Errorf("expected exactly 5 fields (minute hour day-of-month month day-of-week), found %d", len(f))
	}
	s := &CronSchedule{}
	var err error
	if s.minute, _, err = cronMinute.parse(f[0]); err != nil {
		return nil, err
	}
	if s.hour, _, err = cronHour.parse(f[1]); err != nil {
		return nil, err
	}
	if s.dom, s.domStar, err = cronDom.parse(f[2]); err != nil {
		return nil, err
	}
	if s.month, _, err = cronMonth.parse(f[3]); err != nil {
		return nil, err
	}
	if s.dow, s.dowStar, err = cronDow.parse(f[4]); err != nil {
		return nil, err
	}
	if s.dow&(1<<7) != 0 {
		s.dow = s.dow&^(1<<7) | 1
	}
	return s, nil
}

// parse reads a comma-separated list of items into a bit set; star reports
// a field that is exactly * or ?.
func (f cronField) parse(s string) (set uint64, star bool, err error) {
	if s == "*" || s == "?" {
		return f.span(f.min, f.max, 1), true, nil
	}
	for _, item := range strings.Split(s, ",") {
		b, err := f.parseItem(item)
		if err != nil {
			return 0, false, fmt.Errorf("%s field %q: %w", f.name, s, err)
		}
		set |= b
	}
	return set, false, nil
}

func (f cronField) parseItem(item string) (uint64, error) {
	rng, stepStr, hasStep := strings.Cut(item, "/")
	step := 1
	if hasStep {
		n, err := strconv.Atoi(stepStr)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("step %q must be a positive integer", stepStr)
		}
		step = n
	}
	var lo, hi int
	switch {
	case rng == "*" || rng == "?":
		lo, hi = f.min, f.max
	case strings.Contains(rng, "-"):
		a, b, _ := strings.Cut(rng, "-")
		var err error
		if lo, err = f.value(a); err != nil {
			return 0, err
		}
		if hi, err = f.value(b); err != nil {
			return 0, err
		}
		if lo > hi {
			return 0, fmt.Errorf("range %q: start is after end", rng)
		}
	default:
		var err error
		if lo, err = f.value(rng); err != nil {
			return 0, err
		}
		hi = lo
		if hasStep {
			hi = f.max
		}
	}
	return f.span(lo, hi, step), nil
}

func (f cronField) value(s string) (int, error) {
	if v, ok := f.names[strings.ToLower(s)]; ok {
		return v, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number or a known name", s)
	}
	if n < f.min || n > f.max {
		return 0, fmt.Errorf("value %d out of range %d-%d", n, f.min, f.max)
	}
	return n, nil
}

func (f cronField) span(lo, hi, step int) uint64 {
	var b uint64
	for v := lo; v <= hi; v += step {
		b |= 1 << uint(v)
	}
	if f.name == cronDow.name && b&(1<<7) != 0 {
		b = b&^(1<<7) | 1
	}
	return b
}

func has(set uint64, v int) bool { return set&(1<<uint(v)) != 0 }

func (s *CronSchedule) dayMatches(t time.Time) bool {
	d, w := has(s.dom, t.Day()), has(s.dow, int(t.Weekday()))
	if s.domStar || s.dowStar {
		return d && w
	}
	return d || w
}

// Next returns the first time strictly after t, on a whole minute, at
// which the schedule fires in t's location, or the zero time when none
// comes within five years (such as for February 30th).
//
// Hours are stepped in absolute time, so across daylight saving changes a
// wall-clock time that does not exist that day (02:30 when clocks jump
// from 02:00 to 03:00) is skipped, and one that happens twice (01:30 when
// clocks fall back) fires twice, as Kubernetes' cron library does.
func (s *CronSchedule) Next(t time.Time) time.Time {
	loc := t.Location()
	t = t.Truncate(time.Minute).Add(time.Minute)
	added := false
	yearLimit := t.Year() + 5
wrap:
	if t.Year() > yearLimit {
		return time.Time{}
	}
	for !has(s.month, int(t.Month())) {
		if !added {
			added = true
			t = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, loc)
		}
		t = t.AddDate(0, 1, 0)
		if t.Month() == time.January {
			goto wrap
		}
	}
	for !s.dayMatches(t) {
		if !added {
			added = true
			t = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
		}
		t = t.AddDate(0, 0, 1)
		// A day that starts at 01:00 (or 23:00 the day before) because of
		// a daylight saving change: move back to its first instant.
		if h := t.Hour(); h != 0 {
			if h > 12 {
				t = t.Add(time.Duration(24-h) * time.Hour)
			} else {
				t = t.Add(-time.Duration(h) * time.Hour)
			}
		}
		if t.Day() == 1 {
			goto wrap
		}
	}
	for !has(s.hour, t.Hour()) {
		if !added {
			added = true
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), 0, 0, 0, loc)
		}
		t = t.Add(time.Hour)
		if t.Hour() == 0 {
			goto wrap
		}
	}
	for !has(s.minute, t.Minute()) {
		if !added {
			added = true
			t = t.Truncate(time.Minute)
		}
		t = t.Add(time.Minute)
		if t.Minute() == 0 {
			goto wrap
		}
	}
	return t
}
