package api

import (
	"strings"
	"testing"
	"time"
)

func TestParseCronScheduleErrors(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{"", "expected exactly 5 fields"},
		{"* * * *", "found 4"},
		{"* * * * * *", "found 6"},
		{"60 * * * *", "minute field \"60\": value 60 out of range 0-59"},
		{"* 24 * * *", "hour field"},
		{"* * 0 * *", "day of month field"},
		{"* * 32 * *", "out of range 1-31"},
		{"* * * 13 *", "month field"},
		{"* * * foo *", `"foo" is not a number or a known name`},
		{"* * * * 8", "day of week field"},
		{"*/0 * * * *", "step \"0\" must be a positive integer"},
		{"*/x * * * *", "step"},
		{"5-1 * * * *", "start is after end"},
		{"1,,2 * * * *", "minute field"},
		{"@fortnightly", "unrecognized descriptor"},
		{"TZ=UTC 0 * * * *", "use spec.timeZone"},
	} {
		_, err := ParseCronSchedule(tc.expr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseCronSchedule(%q) = %v, want an error containing %q", tc.expr, err, tc.want)
		}
	}
}

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestCronNext(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	berlin := mustLoc(t, "Europe/Berlin")
	at := func(loc *time.Location, s string) time.Time {
		tt, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return tt
	}
	for _, tc := range []struct {
		name, expr string
		loc        *time.Location
		from       string
		want       []string // successive fire times, in loc, "2006-01-02 15:04 MST"
	}{
		{"every minute", "* * * * *", time.UTC, "2026-01-01 10:00",
			[]string{"2026-01-01 10:01 UTC", "2026-01-01 10:02 UTC"}},
		{"not at the same minute", "30 10 * * *", time.UTC, "2026-01-01 10:30",
			[]string{"2026-01-02 10:30 UTC"}},
		{"steps", "*/20 * * * *", time.UTC, "2026-01-01 10:05",
			[]string{"2026-01-01 10:20 UTC", "2026-01-01 10:40 UTC", "2026-01-01 11:00 UTC"}},
		{"range with step and list", "0 9-17/4,23 * * *", time.UTC, "2026-01-01 00:00",
			[]string{"2026-01-01 09:00 UTC", "2026-01-01 13:00 UTC", "2026-01-01 17:00 UTC", "2026-01-01 23:00 UTC", "2026-01-02 09:00 UTC"}},
		{"start/step", "5/30 * * * *", time.UTC, "2026-01-01 00:00",
			[]string{"2026-01-01 00:05 UTC", "2026-01-01 00:35 UTC"}},
		{"names", "0 0 * feb,mar mon-wed", time.UTC, "2026-01-01 00:00",
			[]string{"2026-02-02 00:00 UTC", "2026-02-03 00:00 UTC", "2026-02-04 00:00 UTC", "2026-02-09 00:00 UTC"}},
		{"sunday as 7", "0 12 * * 7", time.UTC, "2026-01-01 00:00",
			[]string{"2026-01-04 12:00 UTC", "2026-01-11 12:00 UTC"}},
		{"day of month or day of week", "0 0 13 * fri", time.UTC, "2026-02-01 00:00",
			[]string{"2026-02-06 00:00 UTC", "2026-02-13 00:00 UTC", "2026-02-20 00:00 UTC", "2026-02-27 00:00 UTC", "2026-03-06 00:00 UTC"}},
		{"31st skips short months", "0 0 31 * *", time.UTC, "2026-01-31 00:00",
			[]string{"2026-03-31 00:00 UTC", "2026-05-31 00:00 UTC"}},
		{"leap day", "0 0 29 2 *", time.UTC, "2026-01-01 00:00",
			[]string{"2028-02-29 00:00 UTC"}},
		{"@hourly", "@hourly", time.UTC, "2026-01-01 10:59",
			[]string{"2026-01-01 11:00 UTC"}},
		{"@daily", "@daily", time.UTC, "2026-01-01 10:59",
			[]string{"2026-01-02 00:00 UTC"}},
		{"@weekly", "@weekly", time.UTC, "2026-01-01 00:00",
			[]string{"2026-01-04 00:00 UTC"}},
		{"@monthly", "@MONTHLY", time.UTC, "2026-01-15 00:00",
			[]string{"2026-02-01 00:00 UTC"}},
		{"@yearly", "@annually", time.UTC, "2026-01-15 00:00",
			[]string{"2027-01-01 00:00 UTC"}},
		{"time zone", "0 9 * * *", berlin, "2026-06-01 00:00",
			[]string{"2026-06-01 09:00 CEST", "2026-06-02 09:00 CEST"}},
		// 2026-03-08: New York clocks jump from 02:00 EST to 03:00 EDT.
		{"spring forward skips the missing time", "30 2 * * *", ny, "2026-03-07 00:00",
			[]string{"2026-03-07 02:30 EST", "2026-03-09 02:30 EDT"}},
		{"spring forward hourly", "0 * * * *", ny, "2026-03-08 00:30",
			[]string{"2026-03-08 01:00 EST", "2026-03-08 03:00 EDT", "2026-03-08 04:00 EDT"}},
		{"daily across spring forward", "0 9 * * *", ny, "2026-03-07 10:00",
			[]string{"2026-03-08 09:00 EDT", "2026-03-09 09:00 EDT"}},
		// 2026-11-01: New York clocks fall back from 02:00 EDT to 01:00 EST.
		{"fall back repeats the doubled hour", "30 1 * * *", ny, "2026-11-01 00:00",
			[]string{"2026-11-01 01:30 EDT", "2026-11-01 01:30 EST", "2026-11-02 01:30 EST"}},
		{"daily across fall back", "0 9 * * *", ny, "2026-10-31 10:00",
			[]string{"2026-11-01 09:00 EST", "2026-11-02 09:00 EST"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseCronSchedule(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			cur := at(tc.loc, tc.from)
			for _, w := range tc.want {
				cur = s.Next(cur)
				if got := cur.Format("2006-01-02 15:04 MST"); got != w {
					t.Fatalf("next = %s, want %s", got, w)
				}
			}
		})
	}
}

func TestCronNextNever(t *testing.T) {
	s, err := ParseCronSchedule("0 0 30 2 *")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Next(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)); !got.IsZero() {
		t.Fatalf("February 30th fired at %v", got)
	}
}
