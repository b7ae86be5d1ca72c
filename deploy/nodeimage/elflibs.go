package main

import (
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// libDirs are where shared libraries are looked up, as the dynamic loader
// of a Debian amd64 system does without its cache.
var libDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"}

// sharedLibs returns the shared objects the ELF executables need, found
// from their program interpreter (PT_INTERP) and DT_NEEDED entries,
// followed transitively, as the sorted paths the loader finds them at.
// Static executables need nothing.
func sharedLibs(bins []string) ([]string, error) {
	out := map[string]bool{}
	var visit func(file string) error
	visit = func(file string) error {
		f, err := elf.Open(file)
		if err != nil {
			return fmt.Errorf("read ELF %s: %w", file, err)
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type != elf.PT_INTERP {
				continue
			}
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err != nil {
				return fmt.Errorf("%s: interpreter: %w", file, err)
			}
			interp := string(b[:len(b)-1]) // NUL-terminated
			out[interp] = true
		}
		needed, err := f.ImportedLibraries()
		if err != nil {
			return fmt.Errorf("%s: DT_NEEDED: %w", file, err)
		}
		for _, lib := range needed {
			found := ""
			for _, d := range libDirs {
				if out[filepath.Join(d, lib)] {
					found = "seen"
					break
				}
				if _, err := os.Stat(filepath.Join(d, lib)); err == nil {
					found = filepath.Join(d, lib)
					break
				}
			}
			switch found {
			case "":
				return fmt.Errorf("%s needs %s, found in none of %v", file, lib, libDirs)
			case "seen":
				continue
			}
			out[found] = true
			if err := visit(found); err != nil {
				return err
			}
		}
		return nil
	}
	for _, b := range bins {
		if err := visit(b); err != nil {
			return nil, err
		}
	}
	libs := make([]string, 0, len(out))
	for p := range out {
		libs = append(libs, p)
	}
	sort.Strings(libs)
	return libs, nil
}
