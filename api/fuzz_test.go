package api

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode checks that no input makes the decoder panic, and that what
// it accepts survives a round trip through Encode.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*", "*.yaml"))
	more, _ := filepath.Glob(filepath.Join("testdata", "*.*"))
	for _, name := range append(files, more...) {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"apiVersion":"v1","kind":"Pod","spec":{"containers":[{"resources":{"limits":{"cpu":1e400}}}]}}`))
	s := NewScheme()
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = SplitYAMLDocuments(data)
		_, _ = ParseSelector(string(data))
		_, _ = ParseQuantity(string(data))
		obj, _, err := s.Decode(data)
		if err != nil {
			return
		}
		js, err := Encode(obj)
		if err != nil {
			t.Fatalf("Encode: %v", err)
		}
		if _, _, err := s.Decode(js); err != nil {
			t.Fatalf("our own output does not decode: %v\n%s", err, js)
		}
	})
}
