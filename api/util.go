package api

import "sort"

// sortedKeys returns a map's keys in order, so errors and output are stable.
func sortedKeys[V any, M ~map[string]V](m M) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
