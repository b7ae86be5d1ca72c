package main

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"strings"
)

// moduleDeps is modules.dep: a module's path (relative to the modules
// directory) to the paths of the modules it needs.
type moduleDeps map[string][]string

// parseModulesDep reads a modules.dep file ("path.ko: dep.ko dep2.ko").
func parseModulesDep(r io.Reader) (moduleDeps, error) {
	deps := moduleDeps{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		mod, rest, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("modules.dep line %d: no colon", n)
		}
		deps[mod] = strings.Fields(rest)
	}
	return deps, sc.Err()
}

// moduleName is the name a module path is known by ("virtio_net" for
// kernel/drivers/net/virtio_net.ko; dashes and underscores are the same).
func moduleName(p string) string {
	return strings.ReplaceAll(strings.TrimSuffix(path.Base(p), ".ko"), "-", "_")
}

// loadOrder returns the module paths to insmod, in order, for the named
// modules: each module's dependencies before it, each module once.
// builtin holds the names compiled into the kernel; they are skipped, and
// a name that is neither a module nor built in is an error.
func (d moduleDeps) loadOrder(names []string, builtin map[string]bool) ([]string, error) {
	byName := map[string]string{}
	for p := range d {
		byName[moduleName(p)] = p
	}
	var order []string
	done := map[string]bool{}
	var visit func(p string, stack []string) error
	visit = func(p string, stack []string) error {
		if done[p] {
			return nil
		}
		for _, s := range stack {
			if s == p {
				return fmt.Errorf("module dependency cycle: %s", strings.Join(append(stack, p), " -> "))
			}
		}
		deps, ok := d[p]
		if !ok {
			return fmt.Errorf("module %s (needed by %s) is not in modules.dep", p, strings.Join(stack, " -> "))
		}
		for _, dep := range deps {
			if err := visit(dep, append(stack, p)); err != nil {
				return err
			}
		}
		done[p] = true
		order = append(order, p)
		return nil
	}
	for _, n := range names {
		n = strings.ReplaceAll(n, "-", "_")
		p, ok := byName[n]
		if !ok {
			if builtin[n] {
				continue
			}
			return nil, fmt.Errorf("kernel module %s: neither in modules.dep nor built in", n)
		}
		if err := visit(p, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// parseBuiltin reads modules.builtin (one path per line) into names.
func parseBuiltin(r io.Reader) (map[string]bool, error) {
	out := map[string]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			out[moduleName(line)] = true
		}
	}
	return out, sc.Err()
}
