// Package configdrive builds the NoCloud-style config drive that carries a
// VM's bootstrap data: an ISO 9660 image labelled "cidata" holding a few
// small files. The VM's init mounts it read-only and reads them; nothing of
// it goes on the kernel command line.
package configdrive

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/kdomanski/iso9660"
)

// VolumeLabel is the ISO volume identifier NoCloud looks for.
const VolumeLabel = "cidata"

// Build returns an ISO 9660 image holding files (name -> content) at its
// root. Names must be plain lower-case file names (ISO 9660 keeps them
// as the guest's isofs shows them: lower case, no directories).
func Build(files map[string][]byte) ([]byte, error) {
	w, err := iso9660.NewWriter()
	if err != nil {
		return nil, fmt.Errorf("config drive: %w", err)
	}
	defer w.Cleanup()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if n == "" || strings.ContainsAny(n, "/\\") || strings.ToLower(n) != n {
			return nil, fmt.Errorf("config drive: file name %q must be a plain lower-case name", n)
		}
		if err := w.AddFile(bytes.NewReader(files[n]), n); err != nil {
			return nil, fmt.Errorf("config drive: %s: %w", n, err)
		}
	}
	var out bytes.Buffer
	if err := w.WriteTo(&out, VolumeLabel); err != nil {
		return nil, fmt.Errorf("config drive: %w", err)
	}
	return out.Bytes(), nil
}

// Read returns the files at the root of a config drive image (for tests
// and for checking a drive before it is attached).
func Read(image []byte) (map[string][]byte, error) {
	img, err := iso9660.OpenImage(bytes.NewReader(image))
	if err != nil {
		return nil, fmt.Errorf("config drive: %w", err)
	}
	root, err := img.RootDir()
	if err != nil {
		return nil, fmt.Errorf("config drive: %w", err)
	}
	children, err := root.GetChildren()
	if err != nil {
		return nil, fmt.Errorf("config drive: %w", err)
	}
	out := map[string][]byte{}
	for _, c := range children {
		if c.IsDir() {
			continue
		}
		var b bytes.Buffer
		if _, err := b.ReadFrom(c.Reader()); err != nil {
			return nil, fmt.Errorf("config drive: %s: %w", c.Name(), err)
		}
		out[c.Name()] = b.Bytes()
	}
	return out, nil
}
