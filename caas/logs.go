package caas

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"time"
)

// containerLogs streams a container's log file (the shim writes stdout and
// stderr into it as they come): the current attempt's, or with
// previous=true the one before; tailLines=N starts N lines before the
// end; follow=true goes on sending what is appended until the container
// stops or the caller goes away.
func (s *NodeServer) containerLogs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	follow := q.Get("follow") == "true"
	previous := q.Get("previous") == "true"
	tail := int64(-1)
	if v := q.Get("tailLines"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			s.writeStatus(w, badRequest("tailLines: %q must be a whole number of lines, 0 or more", v))
			return
		}
		tail = n
	}
	t, err := s.lookup(r.Context(), r)
	if err != nil {
		s.writeStatus(w, err)
		return
	}
	if len(t.attempts) == 0 {
		s.writeStatus(w, badRequest("container %q in pod %q is waiting to start", t.name, t.pod.Name))
		return
	}
	cur := t.attempts[0]
	path := s.pods.logPath(t.pod, t.name, cur.Attempt)
	if previous {
		if cur.Attempt == 0 {
			s.writeStatus(w, badRequest("previous terminated container %q in pod %q not found", t.name, t.pod.Name))
			return
		}
		path = s.pods.logPath(t.pod, t.name, cur.Attempt-1)
		follow = false // it has ended
	}
	f, err := os.Open(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && previous:
		s.writeStatus(w, badRequest("previous terminated container %q in pod %q not found", t.name, t.pod.Name))
		return
	case errors.Is(err, fs.ErrNotExist):
		f = nil // nothing written yet
	case err != nil:
		s.writeStatus(w, err)
		return
	}
	if f != nil {
		defer f.Close()
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	var off int64
	if f != nil && tail >= 0 {
		if off, err = tailOffset(f, tail); err != nil {
			return
		}
	}
	buf := make([]byte, 32<<10)
	// send copies what was appended since off; false when the caller went.
	send := func() bool {
		if f == nil {
			if f, _ = os.Open(path); f == nil {
				return true
			}
		}
		for {
			n, err := f.ReadAt(buf, off)
			if n > 0 {
				off += int64(n)
				if _, werr := w.Write(buf[:n]); werr != nil || rc.Flush() != nil {
					return false
				}
			}
			if err != nil || n == 0 {
				return true
			}
		}
	}
	if !send() || !follow || cur.State != ContainerRunning {
		return
	}
	s.follow(r.Context(), cur, send)
}

// follow calls send every poll interval until ctx ends or the container's
// attempt stops running; then once more, for its last words.
func (s *NodeServer) follow(ctx context.Context, cur ContainerStatus, send func() bool) {
	tick := time.NewTicker(s.poll)
	defer tick.Stop()
	checkEvery := max(1, int(time.Second/s.poll))
	for i := 1; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if !send() {
			return
		}
		if i%checkEvery == 0 && !s.stillRunning(ctx, cur) {
			send()
			return
		}
	}
}

// stillRunning asks the runtime whether the attempt cur still runs.
func (s *NodeServer) stillRunning(ctx context.Context, cur ContainerStatus) bool {
	list, err := s.pods.rt.PodContainers(ctx, cur.PodUID)
	if err != nil {
		return ctx.Err() == nil // a runtime hiccup does not end the stream
	}
	for _, c := range list {
		if c.ID == cur.ID {
			return c.State == ContainerRunning
		}
	}
	return false
}

// tailOffset returns where the last n lines of f begin. A final newline
// ends the last line and does not begin another.
func tailOffset(f *os.File, n int64) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	pos := st.Size()
	if n == 0 {
		return pos, nil
	}
	buf := make([]byte, 32<<10)
	end := pos
	var count int64
	for pos > 0 {
		size := min(int64(len(buf)), pos)
		pos -= size
		if _, err := f.ReadAt(buf[:size], pos); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		for i := size - 1; i >= 0; i-- {
			if buf[i] != '\n' || pos+i == end-1 {
				continue
			}
			if count++; count == n {
				return pos + i + 1, nil
			}
		}
	}
	return 0, nil
}
