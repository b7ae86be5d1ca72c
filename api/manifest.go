package api

import (
	"bytes"
	"strings"
)

// SplitYAMLDocuments splits a manifest file into its documents: YAML
// documents separated by "---" lines, a single JSON object, or a JSON array
// of objects. Empty and comment-only documents are dropped, and a list
// (kind "List", or a typed list such as "PodList") is expanded into its
// items. Each YAML document keeps its position in the file (it is prefixed
// with blank lines), so line numbers in later decoding errors are those of
// the file. A document that is not well-formed YAML is a *DecodeError.
func SplitYAMLDocuments(data []byte) ([][]byte, error) {
	if looksLikeJSON(data) {
		tree, dups, err := parseTree(data)
		if err != nil {
			return nil, err
		}
		if len(dups) > 0 {
			return nil, &DecodeError{Errs: dups}
		}
		items, ok := tree.([]any)
		if !ok {
			items = []any{tree}
		}
		var docs [][]byte
		for _, it := range items {
			docs = append(docs, expandList(it)...)
		}
		return docs, nil
	}
	var docs [][]byte
	for _, doc := range splitYAML(data) {
		if !bytes.Contains(doc, []byte("List")) {
			docs = append(docs, doc)
			continue
		}
		tree, _, err := parseManifest(doc)
		if err != nil {
			return nil, err
		}
		if obj, ok := tree.(*jsonObject); ok && isList(obj) {
			docs = append(docs, expandList(obj)...)
		} else {
			docs = append(docs, doc)
		}
	}
	return docs, nil
}

// splitYAML cuts YAML on document markers, padding each document with the
// blank lines that precede it in the file.
func splitYAML(data []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	start := 0 // lines before the current document
	flush := func() {
		if !blankOrComments(cur.Bytes()) {
			doc := append(bytes.Repeat([]byte("\n"), start), cur.Bytes()...)
			docs = append(docs, doc)
		}
		cur.Reset()
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	for i, line := range lines {
		text := strings.TrimRight(string(line), "\r\n")
		switch {
		case text == "---" || text == "...":
			flush()
			start = i + 1
		case strings.HasPrefix(text, "--- ") || strings.HasPrefix(text, "---\t"):
			// content may follow the marker on the same line
			flush()
			start = i
			cur.WriteString(strings.TrimSpace(text[3:]) + "\n")
		default:
			cur.Write(line)
		}
	}
	flush()
	return docs
}

// blankOrComments reports whether a document has nothing but blank and
// comment lines.
func blankOrComments(doc []byte) bool {
	for _, line := range bytes.Split(doc, []byte("\n")) {
		l := bytes.TrimSpace(line)
		if len(l) > 0 && l[0] != '#' {
			return false
		}
	}
	return true
}

// isList reports whether an object is a list envelope with items.
func isList(obj *jsonObject) bool {
	kind, _ := obj.get("kind")
	k, _ := kind.(string)
	items, _ := obj.get("items")
	_, isArray := items.([]any)
	return strings.HasSuffix(k, "List") && (isArray || items == nil)
}

// expandList returns the items of a list as JSON documents, filling a
// missing apiVersion and kind of typed list items ("PodList" items are
// "Pod"); any other value is returned as one document.
func expandList(v any) [][]byte {
	obj, ok := v.(*jsonObject)
	if !ok || !isList(obj) {
		return [][]byte{encodeJSON(v)}
	}
	kind, _ := obj.get("kind")
	itemKind := strings.TrimSuffix(kind.(string), "List")
	apiVersion, _ := obj.get("apiVersion")
	itemsV, _ := obj.get("items")
	items, _ := itemsV.([]any)
	var docs [][]byte
	for _, it := range items {
		if io, ok := it.(*jsonObject); ok && itemKind != "" {
			if _, has := io.get("kind"); !has {
				io.keys = append([]string{"kind"}, io.keys...)
				io.vals = append([]any{itemKind}, io.vals...)
			}
			if _, has := io.get("apiVersion"); !has && apiVersion != nil {
				io.keys = append([]string{"apiVersion"}, io.keys...)
				io.vals = append([]any{apiVersion}, io.vals...)
			}
		}
		docs = append(docs, encodeJSON(it))
	}
	return docs
}

func encodeJSON(v any) []byte {
	var buf bytes.Buffer
	encodeTree(&buf, v)
	return buf.Bytes()
}
