package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/cloudmgr/cloud/api"
)

// source is the content of one -f argument (or one file of a directory).
type source struct {
	name string
	data []byte
}

// manifest is one decoded document of a source.
type manifest struct {
	source string
	// index numbers the documents of a source from 1, counting each item
	// of a List as a document.
	index int
	obj   api.Object
	kind  *api.KindInfo
}

// where names the document in error messages: "web.yaml (document 2)".
func (m manifest) where() string { return fmt.Sprintf("%s (document %d)", m.source, m.index) }

// isManifestFile reports whether -f DIR reads a file of that name.
func isManifestFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// readSources reads the -f arguments: "-" is stdin, a directory stands for
// its *.yaml, *.yml and *.json files in name order (not recursive), and
// anything else is a file.
func readSources(paths []string, stdin io.Reader) ([]source, error) {
	if len(paths) == 0 {
		return nil, usageErrorf("must specify at least one file with -f")
	}
	var out []source
	readStdin := false
	for _, p := range paths {
		if p == "-" {
			if readStdin {
				return nil, usageErrorf("-f - may be given only once")
			}
			readStdin = true
			data, err := io.ReadAll(stdin)
			if err != nil {
				return nil, fmt.Errorf("read stdin: %w", err)
			}
			out = append(out, source{name: "STDIN", data: data})
			continue
		}
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("the path %q does not exist", p)
		}
		if err != nil {
			return nil, fmt.Errorf("read manifest: %w", err)
		}
		if !fi.IsDir() {
			data, err := os.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("read manifest: %w", err)
			}
			out = append(out, source{name: p, data: data})
			continue
		}
		files, err := readDir(p)
		if err != nil {
			return nil, err
		}
		out = append(out, files...)
	}
	return out, nil
}

// readDir reads the manifest files of a directory in name order.
func readDir(dir string) ([]source, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read manifest directory: %w", err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && isManifestFile(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var out []source
	for _, n := range names {
		path := filepath.Join(dir, n)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read manifest: %w", err)
		}
		out = append(out, source{name: path, data: data})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("directory %s holds no .yaml, .yml or .json file", dir)
	}
	return out, nil
}

// decodeManifests splits every source into documents and strictly decodes
// each one. It decodes everything before returning, so that all broken
// documents are reported at once; each error names its file and document.
func decodeManifests(scheme *api.Scheme, sources []source) ([]manifest, []error) {
	var out []manifest
	var errs []error
	for _, src := range sources {
		docs, err := api.SplitYAMLDocuments(src.data)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", src.name, err))
			continue
		}
		for i, doc := range docs {
			m := manifest{source: src.name, index: i + 1}
			obj, k, err := scheme.Decode(doc)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", m.where(), err))
				continue
			}
			m.obj, m.kind = obj, k
			out = append(out, m)
		}
	}
	return out, errs
}

// setNamespace fills the namespace of a namespaced object from the request
// namespace ns. As in kubectl, an object whose own namespace differs from
// one given explicitly (-n or CLOUDCTL_NAMESPACE) is an error, since it is
// probably applied to the wrong place.
func setNamespace(m manifest, ns string, explicit bool) error {
	meta := m.obj.GetObjectMeta()
	if !m.kind.Namespaced {
		return nil
	}
	switch {
	case meta.Namespace == "":
		meta.Namespace = ns
	case explicit && meta.Namespace != ns:
		return fmt.Errorf("%s: the namespace from the provided object %q does not match the namespace %q: pass --namespace=%s or remove the namespace from the manifest",
			m.where(), meta.Namespace, ns, meta.Namespace)
	}
	return nil
}

// validateManifest defaults and validates an object as the server will,
// so a broken manifest is reported with its file and field paths before
// anything is sent.
func validateManifest(m manifest) error {
	if m.kind.Default != nil {
		m.kind.Default(m.obj)
	}
	if m.kind.Validate == nil {
		return nil
	}
	// The server prepares a new object before validating it (a Job gets its
	// controller-uid selector): check a prepared copy, so what the server
	// fills in is not reported missing.
	obj := m.obj
	if m.kind.PrepareForCreate != nil {
		raw, err := json.Marshal(m.obj)
		if err != nil {
			return fmt.Errorf("%s: %w", m.where(), err)
		}
		obj = m.kind.New()
		if err := json.Unmarshal(raw, obj); err != nil {
			return fmt.Errorf("%s: %w", m.where(), err)
		}
		m.kind.PrepareForCreate(obj)
	}
	if errs := m.kind.Validate(obj); len(errs) > 0 {
		return fmt.Errorf("%s: %s %q is invalid: %w", m.where(), m.kind.Kind, m.obj.GetObjectMeta().Name, errs)
	}
	return nil
}
