package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0B", 1023: "1023B", 1024: "1.0KiB", 2137600: "2.0MiB", 4 << 30: "4.0GiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %s, want %s", n, got, want)
		}
	}
	if got := shortDigest("sha256:7c52a69f2ec464d321c924a75f9abbb07142a4b8f81523953be2fb6aa0a6f5be"); got != "sha256:7c52a69f2ec4" {
		t.Errorf("shortDigest: %s", got)
	}
}

func TestProgressPrintsSentOverTotal(t *testing.T) {
	var out bytes.Buffer
	p := newProgress(&out, 4096, 0)
	_, _ = p.Write(make([]byte, 1024))
	_, _ = p.Write(make([]byte, 3072))
	p.done()
	if s := out.String(); !strings.Contains(s, "sent 1.0KiB / 4.0KiB (25%)") || !strings.Contains(s, "sent 4.0KiB / 4.0KiB (100%)") || !strings.Contains(s, "uploaded 4.0KiB") {
		t.Fatalf("progress output:\n%s", s)
	}
}
