package apiserver

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/cloudmgr/cloud/api"
)

// Pod usage is not stored: the node agents keep the latest figures of
// their pods and serve them on /stats/pods, so the API server asks each
// node through its tunnel when a caller wants them, as metrics-server
// scrapes kubelets. Only the Node's own totals are written to etcd.

// nodeStatsTimeout bounds one node's answer; a slow or silent node is left
// out rather than holding up the list.
const nodeStatsTimeout = 5 * time.Second

// metricsRoutes serves GET /apis/metrics.cloudmgr.dev/v1/[namespaces/{ns}/]pods.
func (s *Server) metricsRoutes(mux *http.ServeMux) {
	base := "/apis/" + api.APIVersionMetrics
	mux.Handle("GET "+base+"/namespaces/{ns}/pods", s.authenticated(s.counted("list", "pods.metrics", s.podMetrics)))
	mux.Handle("GET "+base+"/pods", s.authenticated(s.counted("list", "pods.metrics", s.podMetrics)))
}

// podMetrics lists the usage of the pods the caller may list in the
// namespace (every namespace it may read when none is named; the
// controller manager may read all): the pods come from the store, their figures from their nodes. A pod whose node
// has no tunnel or has not sampled it yet is left out.
func (s *Server) podMetrics(w http.ResponseWriter, r *http.Request, id *Identity) {
	ns := r.PathValue("ns")
	k, _ := s.scheme.ByKind("v1", "Pod")
	var acc access
	var err error
	if id.Role == RoleController {
		// The workload autoscaler reads its targets' usage.
		err = authorizeController(id, &request{verb: "list", kind: k, ns: ns})
	} else {
		acc, err = s.authorize(r.Context(), id, "list", k, ns)
	}
	if err != nil {
		writeError(w, s.log, err, "pods", "")
		return
	}
	objs, _, err := s.store.List(r.Context(), storePrefix(k, ns), k.New, func(o api.Object) bool {
		return acc.onlyNamespaces == nil || acc.onlyNamespaces[o.GetObjectMeta().Namespace]
	})
	if err != nil {
		writeError(w, s.log, err, "pods", "")
		return
	}
	// Which pods each node runs, by namespace/name and UID: a figure is
	// shown only for a pod the caller may see, and only for the same pod
	// (not an older one of the same name).
	byNode := map[string]map[string]string{}
	for _, o := range objs {
		p := o.(*api.Pod)
		if p.Spec.NodeName == "" {
			continue
		}
		if byNode[p.Spec.NodeName] == nil {
			byNode[p.Spec.NodeName] = map[string]string{}
		}
		byNode[p.Spec.NodeName][p.Namespace+"/"+p.Name] = string(p.UID)
	}
	var (
		mu    sync.Mutex
		items []api.PodMetrics
		wg    sync.WaitGroup
	)
	for node, pods := range byNode {
		wg.Go(func() {
			list, err := s.nodePodStats(r.Context(), node, ns)
			if err != nil {
				s.log.Debug("pod metrics", "node", node, "err", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, m := range list.Items {
				uid, ok := pods[m.Namespace+"/"+m.Name]
				if ok && (m.UID == "" || string(m.UID) == uid) {
					items = append(items, m)
				}
			}
		})
	}
	wg.Wait()
	slices.SortFunc(items, func(a, b api.PodMetrics) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	if items == nil {
		items = []api.PodMetrics{}
	}
	writeJSON(w, http.StatusOK, &api.PodMetricsList{
		TypeMeta: api.TypeMeta{APIVersion: api.APIVersionMetrics, Kind: api.KindPodMetrics + "List"},
		Items:    items,
	})
}

// nodePodStats asks node, through its tunnel, for its pods' figures in ns
// (all namespaces when ns is empty).
func (s *Server) nodePodStats(ctx context.Context, node, ns string) (*api.PodMetricsList, error) {
	cc := s.tunnels.get(node)
	if cc == nil {
		return nil, errNoTunnel(node)
	}
	ctx, cancel := context.WithTimeout(ctx, nodeStatsTimeout)
	defer cancel()
	u := &url.URL{Scheme: "http", Host: node, Path: "/stats/pods"}
	if ns != "" {
		u.RawQuery = url.Values{"namespace": {ns}}.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), http.NoBody)
	if err != nil {
		return nil, err
	}
	resp, err := cc.RoundTrip(req)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", node, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return nil, fmt.Errorf("node %s answered %d: %s", node, resp.StatusCode, b)
	}
	var list api.PodMetricsList
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&list); err != nil {
		return nil, fmt.Errorf("node %s: decode pod metrics: %w", node, err)
	}
	return &list, nil
}
