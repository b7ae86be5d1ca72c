package main

import (
	"bytes"
	"strings"
	"testing"
	"text/tabwriter"
)

// TestTableMatchesTabwriter checks the table lays a block out exactly as
// text/tabwriter does with kubectl's settings.
func TestTableMatchesTabwriter(t *testing.T) {
	rows := [][]string{
		{"NAME", "READY", "STATUS", "RESTARTS", "AGE"},
		{"web", "1/1", "Running", "0", "5m"},
		{"a-much-longer-name", "0/2", "CrashLoopBackOff", "12", "45d"},
		{"x", "", "ñandú", "1", "1s"},
	}
	var want bytes.Buffer
	tw := tabwriter.NewWriter(&want, 6, 4, 3, ' ', 0)
	for _, r := range rows {
		tw.Write([]byte(strings.Join(r, "\t") + "\n"))
	}
	tw.Flush()

	var got bytes.Buffer
	tb := newTable(&got)
	for _, r := range rows {
		tb.add(r...)
	}
	if err := tb.flush(); err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Errorf("table output:\n%s\ntabwriter output:\n%s", got.String(), want.String())
	}
}

// TestTableRemembersWidths checks that rows flushed later (watch) keep the
// columns of earlier rows and widen them when needed.
func TestTableRemembersWidths(t *testing.T) {
	var out bytes.Buffer
	tb := newTable(&out)
	tb.add("NAME", "STATUS", "AGE")
	tb.add("web", "Running", "1s")
	tb.flush()
	tb.add("w", "Pending", "2s")
	tb.flush()
	tb.add("a-long-name", "X", "3s")
	tb.flush()
	want := "" +
		"NAME   STATUS    AGE\n" +
		"web    Running   1s\n" +
		"w      Pending   2s\n" +
		"a-long-name   X         3s\n"
	if out.String() != want {
		t.Errorf("got:\n%q\nwant:\n%q", out.String(), want)
	}
}
