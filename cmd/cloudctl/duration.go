package main

import (
	"fmt"
	"time"

	"github.com/cloudmgr/cloud/api"
)

// humanDuration renders a duration the way kubectl's AGE column does
// (k8s.io/apimachinery/pkg/util/duration.HumanDuration): precise when
// short, coarser as it grows: 45s, 3m20s, 15m, 4h, 5h30m, 20h, 2d3h, 45d,
// 2y30d, 9y.
func humanDuration(d time.Duration) string {
	// Clocks of client and server disagree a little; a second in the
	// future still reads as "now".
	if seconds := int(d.Seconds()); seconds < -1 {
		return "<invalid>"
	} else if seconds < 0 {
		return "0s"
	} else if seconds < 60*2 {
		return fmt.Sprintf("%ds", seconds)
	}
	minutes := int(d / time.Minute)
	if minutes < 10 {
		if s := int(d/time.Second) % 60; s != 0 {
			return fmt.Sprintf("%dm%ds", minutes, s)
		}
		return fmt.Sprintf("%dm", minutes)
	} else if minutes < 60*3 {
		return fmt.Sprintf("%dm", minutes)
	}
	hours := int(d / time.Hour)
	if hours < 8 {
		if m := minutes % 60; m != 0 {
			return fmt.Sprintf("%dh%dm", hours, m)
		}
		return fmt.Sprintf("%dh", hours)
	} else if hours < 48 {
		return fmt.Sprintf("%dh", hours)
	} else if hours < 24*8 {
		if h := hours % 24; h != 0 {
			return fmt.Sprintf("%dd%dh", hours/24, h)
		}
		return fmt.Sprintf("%dd", hours/24)
	} else if hours < 24*365*2 {
		return fmt.Sprintf("%dd", hours/24)
	} else if hours < 24*365*8 {
		if days := (hours / 24) % 365; days != 0 {
			return fmt.Sprintf("%dy%dd", hours/24/365, days)
		}
		return fmt.Sprintf("%dy", hours/24/365)
	}
	return fmt.Sprintf("%dy", hours/24/365)
}

// age is the AGE of a timestamp at now, "<unknown>" when it is unset.
func age(t api.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return humanDuration(now.Sub(t.Time))
}
