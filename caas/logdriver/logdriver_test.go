package logdriver

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"testing/iotest"
)

// TestCopyStreams: both streams reach the writer whole, and a read error
// of one is reported without losing the other.
func TestCopyStreams(t *testing.T) {
	var buf bytes.Buffer
	out := strings.Repeat("o", 100<<10)
	if err := copyStreams(&buf, strings.NewReader(out), strings.NewReader("err\n")); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); len(got) != len(out)+4 || !strings.Contains(got, "err\n") {
		t.Fatalf("copied %d bytes (stderr kept: %v); want %d", len(got), strings.Contains(got, "err\n"), len(out)+4)
	}
	buf.Reset()
	boom := errors.New("boom")
	err := copyStreams(&buf, iotest.ErrReader(boom), strings.NewReader("kept\n"))
	if !errors.Is(err, boom) || buf.String() != "kept\n" {
		t.Fatalf("copy = %q, %v; want the other stream kept and the error", buf.String(), err)
	}
}
