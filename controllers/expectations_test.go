package controllers_test

import (
	"testing"
	"time"

	"github.com/cloudmgr/cloud/controllers"
)

func TestExpectations(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	e := controllers.NewExpectations(time.Minute, func() time.Time { return now })
	inCache := map[string]bool{}
	active := map[string]bool{}
	seen := func(n string) bool { return inCache[n] }
	isActive := func(n string) bool { return active[n] }
	if !e.Satisfied("k", seen, isActive) {
		t.Fatal("nothing expected, yet unsatisfied")
	}
	e.Created("k", "p1")
	e.Deleted("k", "p0")
	active["p0"] = true
	if e.Satisfied("k", seen, isActive) {
		t.Fatal("satisfied before the created pod was seen")
	}
	inCache["p1"] = true
	if e.Satisfied("k", seen, isActive) {
		t.Fatal("satisfied while the deleted pod is still active")
	}
	active["p0"] = false
	if !e.Satisfied("k", seen, isActive) {
		t.Fatal("unsatisfied once every write was seen")
	}
	e.Created("k", "lost")
	now = now.Add(2 * time.Minute)
	if !e.Satisfied("k", seen, isActive) {
		t.Fatal("expectations did not expire")
	}
}
