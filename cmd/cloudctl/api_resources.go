package main

import (
	"context"
	"net/http"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cloudmgr/cloud/api"
)

// apiResourcesOptions is `cloudctl api-resources`.
type apiResourcesOptions struct {
	root *rootOptions
}

func newAPIResourcesOptions(root *rootOptions) *apiResourcesOptions {
	return &apiResourcesOptions{root: root}
}

func (o *apiResourcesOptions) command() *cobra.Command {
	return &cobra.Command{
		Use:   "api-resources",
		Short: "List the resource kinds the server offers",
		Long: `List the resource kinds the API server offers, read from its discovery
documents (/api/v1 and /apis/GROUP/VERSION): the names to use with get,
describe and delete, their short names, API version, whether they live in a
namespace, and their kind.`,
		Example: `  # What can I get?
  cloudctl api-resources`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd.Context()) },
	}
}

func (o *apiResourcesOptions) run(ctx context.Context) error {
	c, err := o.root.client()
	if err != nil {
		return err
	}
	paths := []string{"/api/v1"}
	var groups struct {
		Groups []struct {
			PreferredVersion struct {
				GroupVersion string `json:"groupVersion"`
			} `json:"preferredVersion"`
		} `json:"groups"`
	}
	if err := c.Do(ctx, http.MethodGet, "/apis", nil, nil, &groups); err != nil {
		return err
	}
	for _, g := range groups.Groups {
		paths = append(paths, "/apis/"+g.PreferredVersion.GroupVersion)
	}
	var rows [][]string
	for _, p := range paths {
		var l api.APIResourceList
		if err := c.Do(ctx, http.MethodGet, p, nil, nil, &l); err != nil {
			return err
		}
		for _, r := range l.Resources {
			if strings.Contains(r.Name, "/") {
				continue // subresources are not listed, as in kubectl
			}
			ns := "false"
			if r.Namespaced {
				ns = "true"
			}
			rows = append(rows, []string{r.Name, strings.Join(r.ShortNames, ","), l.GroupVersion, ns, r.Kind})
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i][0] < rows[j][0] })
	t := newTable(o.root.out)
	t.add("NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND")
	for _, r := range rows {
		t.add(r...)
	}
	return t.flush()
}
