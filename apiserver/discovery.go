package apiserver

import (
	"net/http"
	"sort"

	"github.com/cloudmgr/cloud/api"
)

// discovery answers the group/version documents from the scheme: /api,
// /apis, /api/v1 and /apis/GROUP/VERSION. Any authenticated caller may read
// them; they say what exists, not what the caller may do.
func (s *Server) discovery(w http.ResponseWriter, r *http.Request, _ *Identity) {
	groups := map[string][]*api.KindInfo{}
	for _, k := range s.scheme.Kinds() {
		groups[k.APIVersion()] = append(groups[k.APIVersion()], k)
	}
	switch p := r.URL.Path; {
	case p == "/api" || p == "/api/":
		writeJSON(w, http.StatusOK, map[string]any{"kind": "APIVersions", "versions": []string{"v1"}})
	case p == "/apis" || p == "/apis/":
		var list []map[string]any
		for gv, ks := range groups {
			if ks[0].Group == "" {
				continue
			}
			v := map[string]string{"groupVersion": gv, "version": ks[0].Version}
			list = append(list, map[string]any{"name": ks[0].Group, "versions": []any{v}, "preferredVersion": v})
		}
		sort.Slice(list, func(i, j int) bool { return list[i]["name"].(string) < list[j]["name"].(string) })
		writeJSON(w, http.StatusOK, map[string]any{"kind": "APIGroupList", "apiVersion": "v1", "groups": list})
	default:
		gv := p[len("/api/"):]
		if p[:5] == "/apis" {
			gv = p[len("/apis/"):]
		}
		ks, ok := groups[gv]
		if !ok {
			writeError(w, s.log, errNotFoundPath(p), "", "")
			return
		}
		out := api.APIResourceList{Kind: "APIResourceList", APIVersion: "v1", GroupVersion: gv}
		for _, k := range ks {
			verbs := []string{"create", "delete", "get", "list", "update", "watch"}
			out.Resources = append(out.Resources, api.APIResource{Name: k.Resource, SingularName: k.Singular,
				Namespaced: k.Namespaced, Kind: k.Kind, Verbs: verbs, ShortNames: k.ShortNames})
			if k.HasStatus {
				out.Resources = append(out.Resources, api.APIResource{Name: k.Resource + "/status", Namespaced: k.Namespaced,
					Kind: k.Kind, Verbs: []string{"get", "update"}})
			}
			if k.Kind == api.KindPod {
				out.Resources = append(out.Resources, api.APIResource{Name: k.Resource + "/binding", Namespaced: true,
					Kind: api.KindBinding, Verbs: []string{"create"}})
			}
			if k.Kind == api.KindNamespace {
				out.Resources = append(out.Resources, api.APIResource{Name: k.Resource + "/" + api.SubresourceFinalize,
					Kind: api.KindNamespace, Verbs: []string{"update"}})
			}
		}
		writeJSON(w, http.StatusOK, out)
	}
}
