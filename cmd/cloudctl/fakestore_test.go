package main

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/cloudmgr/cloud/api"
)

// fakeStore is a tiny in-memory API server: POST to a collection creates,
// GET/PUT/DELETE on an object path read, replace (compare-and-swap on the
// resourceVersion) and delete. Objects are kept as JSON maps.
type fakeStore struct {
	mu      sync.Mutex
	rev     int
	objects map[string]map[string]any // object path -> object
	// beforePut, when set, may answer a PUT itself (return true).
	beforePut func(w http.ResponseWriter, path string) bool
}

func newFakeStore() *fakeStore { return &fakeStore{objects: map[string]map[string]any{}} }

// serve answers every request; use it as the fallback route of fakeAPI.
func (s *fakeStore) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var body map[string]any
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			writeStatus(w, 400, api.StatusReasonBadRequest, err.Error())
			return
		}
	}
	path := r.URL.Path
	switch r.Method {
	case http.MethodGet:
		obj, ok := s.objects[path]
		if !ok {
			writeStatus(w, 404, api.StatusReasonNotFound, notFoundMessage(path))
			return
		}
		writeJSON(w, 200, obj)
	case http.MethodPost:
		meta := body["metadata"].(map[string]any)
		p := path + "/" + meta["name"].(string)
		if _, ok := s.objects[p]; ok {
			writeStatus(w, 409, api.StatusReasonAlreadyExists, "already exists")
			return
		}
		s.rev++
		meta["resourceVersion"] = strconv.Itoa(s.rev)
		meta["uid"] = "uid-" + strconv.Itoa(s.rev)
		s.objects[p] = body
		writeJSON(w, 201, body)
	case http.MethodPut:
		if s.beforePut != nil && s.beforePut(w, path) {
			return
		}
		old, ok := s.objects[path]
		if !ok {
			writeStatus(w, 404, api.StatusReasonNotFound, notFoundMessage(path))
			return
		}
		meta := body["metadata"].(map[string]any)
		if rv := meta["resourceVersion"]; rv != old["metadata"].(map[string]any)["resourceVersion"] {
			writeStatus(w, 409, api.StatusReasonConflict, "the object has been modified; please apply your changes to the latest version and try again")
			return
		}
		s.rev++
		meta["resourceVersion"] = strconv.Itoa(s.rev)
		s.objects[path] = body
		writeJSON(w, 200, body)
	case http.MethodDelete:
		obj, ok := s.objects[path]
		if !ok {
			writeStatus(w, 404, api.StatusReasonNotFound, notFoundMessage(path))
			return
		}
		delete(s.objects, path)
		writeJSON(w, 200, obj)
	}
}

// notFoundMessage is the server's wording: `pods "web" not found`.
func notFoundMessage(path string) string {
	parts := strings.Split(path, "/")
	return parts[len(parts)-2] + " \"" + parts[len(parts)-1] + "\" not found"
}

// object returns a stored object, failing the test if absent.
func (s *fakeStore) object(t *testing.T, path string) map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	obj, ok := s.objects[path]
	if !ok {
		t.Fatalf("no object at %s", path)
	}
	return obj
}

// set changes a field of a stored object as a controller would.
func (s *fakeStore) set(path string, fn func(obj map[string]any)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s.objects[path])
	s.rev++
	s.objects[path]["metadata"].(map[string]any)["resourceVersion"] = strconv.Itoa(s.rev)
}

// newStoreAPI starts a fake API server backed by a fakeStore.
func newStoreAPI(t *testing.T) (*fakeAPI, *fakeStore) {
	t.Helper()
	store := newFakeStore()
	return newFakeAPIWithFallback(t, nil, store.serve), store
}
