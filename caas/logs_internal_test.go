package caas

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTailOffset(t *testing.T) {
	long := strings.Repeat("x", 40<<10) // longer than one read chunk
	for _, c := range []struct {
		name, data string
		n          int64
		want       string
	}{
		{"empty file", "", 3, ""},
		{"zero lines", "a\nb\n", 0, ""},
		{"last line", "a\nb\nc\n", 1, "c\n"},
		{"two lines", "a\nb\nc\n", 2, "b\nc\n"},
		{"more than there are", "a\nb\n", 5, "a\nb\n"},
		{"no final newline", "a\nb\nc", 1, "c"},
		{"no final newline, two", "a\nb\nc", 2, "b\nc"},
		{"empty lines count", "a\n\n\n", 2, "\n\n"},
		{"across chunks", "first\n" + long + "\nlast\n", 2, long + "\nlast\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "log")
			if err := os.WriteFile(path, []byte(c.data), 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			off, err := tailOffset(f, c.n)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.data[off:]; got != c.want {
				t.Fatalf("tail %d of %q: %q, want %q", c.n, c.data, got, c.want)
			}
		})
	}
}
