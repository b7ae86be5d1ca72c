package main

import (
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
)

func TestHumanDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-5 * time.Second, "<invalid>"},
		{-time.Second, "0s"},
		{0, "0s"},
		{5 * time.Second, "5s"},
		{119 * time.Second, "119s"},
		{2 * time.Minute, "2m"},
		{3*time.Minute + 20*time.Second, "3m20s"},
		{9*time.Minute + 59*time.Second, "9m59s"},
		{10 * time.Minute, "10m"},
		{179 * time.Minute, "179m"},
		{3 * time.Hour, "3h"},
		{4 * time.Hour, "4h"},
		{5*time.Hour + 30*time.Minute, "5h30m"},
		{8 * time.Hour, "8h"},
		{47*time.Hour + 59*time.Minute, "47h"},
		{48 * time.Hour, "2d"},
		{51 * time.Hour, "2d3h"},
		{7*24*time.Hour + 23*time.Hour, "7d23h"},
		{8 * 24 * time.Hour, "8d"},
		{45 * 24 * time.Hour, "45d"},
		{729 * 24 * time.Hour, "729d"},
		{730 * 24 * time.Hour, "2y"},
		{(730 + 30) * 24 * time.Hour, "2y30d"},
		{9 * 365 * 24 * time.Hour, "9y"},
	}
	for _, tt := range tests {
		t.Run(tt.d.String(), func(t *testing.T) {
			if got := humanDuration(tt.d); got != tt.want {
				t.Errorf("humanDuration(%v) = %q, want %q", tt.d, got, tt.want)
			}
		})
	}
}

func TestAgeUnknownForZeroTime(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := age(api.Time{}, now); got != "<unknown>" {
		t.Errorf("age(zero) = %q, want <unknown>", got)
	}
	if got := age(api.NewTime(now.Add(-90*time.Second)), now); got != "90s" {
		t.Errorf("age(90s ago) = %q, want 90s", got)
	}
}
