package caas

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/cloudmgr/cloud/api"
)

// Paths the usage handler serves.
const (
	// StatsPodsPath lists the pods' figures as an api.PodMetricsList;
	// ?namespace=NS keeps one namespace.
	StatsPodsPath = "/stats/pods"
	// StatsNodePath gives the node's figures as an api.NodeMetrics.
	StatsNodePath = "/stats/node"
)

// Handler serves the sampler's latest figures to the API server (through
// the node's tunnel): GET StatsPodsPath and GET StatsNodePath. It trusts
// its caller to have authorized the request.
func (s *UsageSampler) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(StatsPodsPath, s.servePods)
	mux.HandleFunc(StatsNodePath, s.serveNode)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeStatusError(w, http.StatusNotFound, api.StatusReasonNotFound, fmt.Sprintf("no such path %q: the node serves %s and %s", r.URL.Path, StatsPodsPath, StatsNodePath))
	})
	return mux
}

func (s *UsageSampler) servePods(w http.ResponseWriter, r *http.Request) {
	if !onlyGet(w, r) {
		return
	}
	ns := r.URL.Query().Get("namespace")
	if ns != "" {
		if msgs := api.IsDNS1123Label(ns); len(msgs) > 0 {
			writeStatusError(w, http.StatusBadRequest, api.StatusReasonBadRequest,
				fmt.Sprintf("namespace %q is invalid: %s", ns, strings.Join(msgs, "; ")))
			return
		}
	}
	writeJSON(w, http.StatusOK, &api.PodMetricsList{
		TypeMeta: api.TypeMeta{APIVersion: api.APIVersionMetrics, Kind: api.KindPodMetrics + "List"},
		Items:    s.PodMetrics(ns),
	})
}

func (s *UsageSampler) serveNode(w http.ResponseWriter, r *http.Request) {
	if !onlyGet(w, r) {
		return
	}
	u := s.NodeUsage()
	if u == nil {
		writeStatusError(w, http.StatusServiceUnavailable, api.StatusReasonServiceUnavailable,
			fmt.Sprintf("node %q has no usage measured yet: the first figures come one sampling interval after start", s.cfg.NodeName))
		return
	}
	writeJSON(w, http.StatusOK, &api.NodeMetrics{
		TypeMeta:   api.TypeMeta{APIVersion: api.APIVersionMetrics, Kind: api.KindNodeMetrics},
		ObjectMeta: api.ObjectMeta{Name: s.cfg.NodeName},
		Timestamp:  u.Timestamp, Window: api.Duration{Duration: secondsDuration(u.WindowSeconds)},
		Usage: u.Node,
	})
}

func onlyGet(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	writeStatusError(w, http.StatusMethodNotAllowed, api.StatusReasonMethodNotAllowed, fmt.Sprintf("method %s is not allowed on %s: only GET", r.Method, r.URL.Path))
	return false
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeStatusError(w http.ResponseWriter, code int, reason api.StatusReason, msg string) {
	writeJSON(w, code, &api.Status{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Status"},
		Status: "Failure", Code: int32(code), Reason: reason, Message: msg})
}
