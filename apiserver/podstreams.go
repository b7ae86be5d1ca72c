package apiserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/store"
)

// streamRoutes are the pod subresources served by the pod's node through
// its tunnel: log and exec.
func (s *Server) streamRoutes(mux *http.ServeMux) {
	mux.Handle("GET /api/v1/nodes/{name}/tunnel", s.authenticated(s.openTunnel))
	mux.Handle("GET /api/v1/namespaces/{ns}/pods/{name}/log", s.authenticated(s.counted("get", "pods/log", s.podLog)))
	mux.Handle("POST /api/v1/namespaces/{ns}/pods/{name}/exec", s.authenticated(s.counted("create", "pods/exec", s.podExec)))
}

// counted logs and counts a streaming call, as serveAPI does the others.
func (s *Server) counted(verb, resource string, h func(http.ResponseWriter, *http.Request, *Identity)) func(http.ResponseWriter, *http.Request, *Identity) {
	return func(w http.ResponseWriter, r *http.Request, id *Identity) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		h(rec, r, id)
		s.log.Debug("request", "verb", verb, "resource", resource, "namespace", r.PathValue("ns"), "name", r.PathValue("name"),
			"user", id.Name, "code", rec.code, "duration", time.Since(start))
		s.metrics.requests.WithLabelValues(verb, resource, strconv.Itoa(rec.code)).Inc()
	}
}

// isLongRunning tells the requests that may last as long as the caller
// wants (watches, log and exec streams, node tunnels), which the in-flight
// limit does not count.
func isLongRunning(r *http.Request) bool {
	if isWatch(r) {
		return true
	}
	p := r.URL.Path
	return strings.HasSuffix(p, "/log") || strings.HasSuffix(p, "/exec") || strings.HasSuffix(p, "/tunnel")
}

// podLog is GET .../pods/{name}/log?container=&follow=&tailLines=&previous=.
func (s *Server) podLog(w http.ResponseWriter, r *http.Request, id *Identity) {
	q := r.URL.Query()
	node := url.Values{}
	for _, name := range []string{"follow", "previous"} {
		if v := q.Get(name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				writeError(w, s.log, errBadRequest("%s: %q is not a boolean", name, v), "pods", r.PathValue("name"))
				return
			}
			node.Set(name, strconv.FormatBool(b))
		}
	}
	if v := q.Get("tailLines"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeError(w, s.log, errBadRequest("tailLines: %q must be a whole number of lines, 0 or more", v), "pods", r.PathValue("name"))
			return
		}
		node.Set("tailLines", strconv.FormatInt(n, 10))
	}
	s.proxyToNode(w, r, id, "get", "containerLogs", node, false)
}

// podExec is POST .../pods/{name}/exec?container=&command=...&stdin=.
func (s *Server) podExec(w http.ResponseWriter, r *http.Request, id *Identity) {
	q := r.URL.Query()
	cmd := q["command"]
	if len(cmd) == 0 || cmd[0] == "" {
		writeError(w, s.log, errBadRequest("command: required, e.g. ?command=sh&command=-c&command=..."), "pods", r.PathValue("name"))
		return
	}
	stdin := false
	if v := q.Get("stdin"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeError(w, s.log, errBadRequest("stdin: %q is not a boolean", v), "pods", r.PathValue("name"))
			return
		}
		stdin = b
	}
	node := url.Values{"command": cmd}
	if stdin {
		node.Set("stdin", "true")
	}
	s.proxyToNode(w, r, id, "create", "exec", node, stdin)
}

// proxyToNode authorizes a pod subresource call, finds the pod's node and
// container, and relays the call through the node's tunnel to the node's
// handler at /{route}/{ns}/{pod}/{container}, streaming the answer.
func (s *Server) proxyToNode(w http.ResponseWriter, r *http.Request, id *Identity, verb, route string, query url.Values, withBody bool) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	k, _ := s.scheme.ByKind("v1", "Pod")
	if id.Role != RoleAdmin && id.Role != RoleTenant {
		writeError(w, s.log, errForbidden("pods %q is forbidden: User %q cannot %s pods/%s", name, id.Name, verb, subresourceOf(route)), "pods", name)
		return
	}
	if _, err := s.authorize(r.Context(), id, verb, k, ns); err != nil {
		writeError(w, s.log, err, "pods", name)
		return
	}
	var pod api.Pod
	if err := s.store.Get(r.Context(), storeKey(k, ns, name), &pod); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = errNotFound("pods", name)
		}
		writeError(w, s.log, err, "pods", name)
		return
	}
	container, err := pickContainer(&pod, r.URL.Query().Get("container"))
	if err != nil {
		writeError(w, s.log, err, "pods", name)
		return
	}
	if pod.Spec.NodeName == "" {
		writeError(w, s.log, errBadRequest("pod %q is not bound to a node yet: it has no logs and runs nothing", name), "pods", name)
		return
	}
	cc := s.tunnels.get(pod.Spec.NodeName)
	if cc == nil {
		writeError(w, s.log, errNoTunnel(pod.Spec.NodeName), "pods", name)
		return
	}
	// Streams end when the server stops, as watches do.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		select {
		case <-s.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	u := &url.URL{Scheme: "http", Host: pod.Spec.NodeName,
		Path: "/" + route + "/" + ns + "/" + name + "/" + container, RawQuery: query.Encode()}
	body := io.Reader(http.NoBody)
	if withBody {
		// The caller writes stdin while it reads the output.
		_ = http.NewResponseController(w).EnableFullDuplex()
		body = r.Body
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, u.String(), body)
	if err != nil {
		writeError(w, s.log, err, "pods", name)
		return
	}
	resp, err := cc.RoundTrip(req)
	if err != nil {
		if r.Context().Err() != nil {
			return
		}
		writeError(w, s.log, newStatus(http.StatusServiceUnavailable, "ServiceUnavailable",
			fmt.Sprintf("node %s did not answer through its tunnel: %v", pod.Spec.NodeName, err)), "pods", name)
		return
	}
	defer resp.Body.Close()
	for _, h := range []string{"Content-Type", "X-Content-Type-Options"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(resp.StatusCode)
	copyFlushing(w, resp.Body)
}

// copyFlushing copies src to w, flushing after every read so the caller
// sees each line as the container writes it.
func copyFlushing(w http.ResponseWriter, src io.Reader) {
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if rc.Flush() != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// pickContainer resolves the container a call names, or the pod's only
// one, as kubectl does.
func pickContainer(pod *api.Pod, name string) (string, error) {
	names := make([]string, 0, len(pod.Spec.Containers))
	for _, c := range pod.Spec.Containers {
		if c.Name == name {
			return name, nil
		}
		names = append(names, c.Name)
	}
	switch {
	case name != "":
		return "", errBadRequest("container %q is not valid for pod %q: choose one of: [%s]", name, pod.Name, strings.Join(names, " "))
	case len(names) == 1:
		return names[0], nil
	case len(names) == 0:
		return "", errBadRequest("pod %q has no containers", pod.Name)
	}
	return "", errBadRequest("a container name must be specified for pod %s, choose one of: [%s]", pod.Name, strings.Join(names, " "))
}

func subresourceOf(route string) string {
	if route == "containerLogs" {
		return "log"
	}
	return route
}
