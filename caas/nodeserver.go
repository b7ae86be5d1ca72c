package caas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
)

// NodeServer is the node's own HTTP API. The API server reaches it only
// through the reverse tunnel the node opens (client.ServeTunnel): the
// node listens on no port. It serves container logs and exec for the pods
// bound to this node that its PodManager runs; more routes (stats) are
// added with Handle.
type NodeServer struct {
	mux  *http.ServeMux
	pods *PodManager
	log  *slog.Logger
	// poll is how often a followed log is read again for new output.
	poll time.Duration
}

// NewNodeServer serves the pods of pods (whose Run must be running).
func NewNodeServer(pods *PodManager, log *slog.Logger) *NodeServer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &NodeServer{mux: http.NewServeMux(), pods: pods, log: log, poll: 100 * time.Millisecond}
	s.mux.HandleFunc("GET /containerLogs/{ns}/{pod}/{container}", s.containerLogs)
	s.mux.HandleFunc("POST /exec/{ns}/{pod}/{container}", s.exec)
	return s
}

// Handle adds a route, with http.ServeMux patterns ("GET /stats").
func (s *NodeServer) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// ServeHTTP serves the node's routes.
func (s *NodeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// nodeError is a refusal with its HTTP code, answered as an api.Status.
type nodeError struct {
	code   int
	reason api.StatusReason
	msg    string
}

func (e *nodeError) Error() string { return e.msg }

func badRequest(format string, a ...any) error {
	return &nodeError{code: http.StatusBadRequest, reason: api.StatusReasonBadRequest, msg: fmt.Sprintf(format, a...)}
}

// writeStatus answers err as a Status, as the API server does, so that it
// relays the node's refusal unchanged.
func (s *NodeServer) writeStatus(w http.ResponseWriter, err error) {
	ne := &nodeError{code: http.StatusInternalServerError, reason: api.StatusReasonInternalError, msg: err.Error()}
	errors.As(err, &ne)
	if ne.code >= 500 {
		s.log.Warn("node server", "err", err)
	}
	st := api.Status{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Status"}, Status: "Failure", Code: int32(ne.code), Reason: ne.reason, Message: ne.msg}
	data, _ := json.Marshal(st)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(ne.code)
	_, _ = w.Write(data)
}

// target is a container of a pod this node runs, with its attempts,
// newest first.
type target struct {
	pod      *api.Pod
	name     string
	attempts []ContainerStatus
}

// lookup finds the container the request names among this node's pods.
func (s *NodeServer) lookup(ctx context.Context, r *http.Request) (*target, error) {
	ns, name, container := r.PathValue("ns"), r.PathValue("pod"), r.PathValue("container")
	cache := s.pods.cache.Load()
	if cache == nil {
		return nil, &nodeError{code: http.StatusServiceUnavailable, reason: api.StatusReasonServiceUnavailable,
			msg: fmt.Sprintf("node %s is starting: its pods are not known yet", s.pods.cfg.NodeName)}
	}
	obj, _ := cache.Get(ns + "/" + name)
	pod := copyPod(obj)
	if pod == nil {
		return nil, &nodeError{code: http.StatusNotFound, reason: api.StatusReasonNotFound,
			msg: fmt.Sprintf("pods %q not found on node %s", name, s.pods.cfg.NodeName)}
	}
	found := false
	for _, c := range pod.Spec.Containers {
		found = found || c.Name == container
	}
	if !found {
		return nil, badRequest("container %q is not valid for pod %q", container, name)
	}
	have, err := s.pods.containersOf(ctx, pod.UID)
	if err != nil {
		return nil, err
	}
	return &target{pod: pod, name: container, attempts: have[container]}, nil
}

// running returns the container's current attempt when it runs.
func (t *target) running() (ContainerStatus, error) {
	if len(t.attempts) == 0 || t.attempts[0].State != ContainerRunning {
		return ContainerStatus{}, badRequest("container %q in pod %q is not running", t.name, t.pod.Name)
	}
	return t.attempts[0], nil
}

// exec runs a command in the container and streams its output as exec
// frames (client.FrameWriter), its stdin from the request body when
// stdin=true, and ends with the exit code.
func (s *NodeServer) exec(w http.ResponseWriter, r *http.Request) {
	t, err := s.lookup(r.Context(), r)
	if err != nil {
		s.writeStatus(w, err)
		return
	}
	cur, err := t.running()
	if err != nil {
		s.writeStatus(w, err)
		return
	}
	cmd := r.URL.Query()["command"]
	if len(cmd) == 0 {
		s.writeStatus(w, badRequest("command: required"))
		return
	}
	w.Header().Set("Content-Type", client.ExecFramesContentType)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	fw := client.NewFrameWriter(w, func() { _ = rc.Flush() })
	spec := ExecSpec{Command: cmd, Stdout: fw.Stream(client.ExecStreamStdout), Stderr: fw.Stream(client.ExecStreamStderr)}
	if r.URL.Query().Get("stdin") == "true" {
		spec.Stdin = r.Body
	}
	code, err := s.pods.rt.Exec(r.Context(), cur.ID, spec)
	if err != nil {
		if r.Context().Err() == nil {
			s.log.Info("exec failed", "pod", t.pod.Namespace+"/"+t.pod.Name, "container", t.name, "err", err)
		}
		_ = fw.WriteFrame(client.ExecStreamError, []byte(err.Error()))
		return
	}
	_ = fw.Exit(code)
}
