package main

import (
	"strings"

	"github.com/cloudmgr/cloud/api"
)

// resourceRequest is one kind and the names asked of it (none: all).
type resourceRequest struct {
	kind  *api.KindInfo
	names []string
}

// parseResourceArgs reads the resource arguments of get, describe and
// delete, in kubectl's two forms: "KIND[,KIND...] [NAME...]" or
// "KIND/NAME...". Requests keep the order of first appearance.
func (o *rootOptions) parseResourceArgs(args []string) ([]resourceRequest, error) {
	if len(args) == 0 {
		return nil, usageErrorf("you must specify the type of resource, e.g. pods, nodes, nodepools")
	}
	if strings.Contains(args[0], "/") {
		return o.parseSlashArgs(args)
	}
	var reqs []resourceRequest
	for _, name := range strings.Split(args[0], ",") {
		k, err := o.lookupKind(name)
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, resourceRequest{kind: k})
	}
	names := args[1:]
	for _, n := range names {
		if strings.Contains(n, "/") {
			return nil, usageErrorf("there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'cloudctl get resource/<resource_name>' instead of 'cloudctl get resource resource/<resource_name>')")
		}
	}
	if len(names) > 0 && len(reqs) > 1 {
		return nil, usageErrorf("names may be given with one resource type only; use the TYPE/NAME form for several types")
	}
	if len(names) > 0 {
		reqs[0].names = names
	}
	return reqs, nil
}

func (o *rootOptions) parseSlashArgs(args []string) ([]resourceRequest, error) {
	var reqs []resourceRequest
	index := map[*api.KindInfo]int{}
	for _, a := range args {
		kindName, name, ok := strings.Cut(a, "/")
		if !ok || kindName == "" || name == "" || strings.Contains(name, "/") {
			return nil, usageErrorf("arguments in resource/name form must have a single resource and name, got %q", a)
		}
		k, err := o.lookupKind(kindName)
		if err != nil {
			return nil, err
		}
		i, seen := index[k]
		if !seen {
			i = len(reqs)
			index[k] = i
			reqs = append(reqs, resourceRequest{kind: k})
		}
		reqs[i].names = append(reqs[i].names, name)
	}
	return reqs, nil
}

// hasNames reports whether any request names objects.
func hasNames(reqs []resourceRequest) bool {
	for _, r := range reqs {
		if len(r.names) > 0 {
			return true
		}
	}
	return false
}
