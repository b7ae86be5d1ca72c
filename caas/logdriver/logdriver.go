// Package logdriver is the body of cmd/cloudmgr-logger, the process
// containerd's shim starts for each container (a binary:// log URI) to
// write the container's stdout and stderr to its log file. It imports only
// the standard library: one runs per container, so it must stay small.
package logdriver

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// Run is the log driver process: containerd's shim passes the
// container's stdout and stderr as file descriptors 3 and 4 and waits for
// descriptor 5 to close before it starts the container. It appends both
// streams to path, each read written whole, until both end.
func Run(path string) error {
	stdout, stderr, ready := os.NewFile(3, "stdout"), os.NewFile(4, "stderr"), os.NewFile(5, "ready")
	if stdout == nil || stderr == nil || ready == nil {
		return errors.New("cloudmgr-logger: run by containerd's shim only (file descriptors 3, 4 and 5 missing)")
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		_ = ready.Close()
		return fmt.Errorf("cloudmgr-logger: %w", err)
	}
	defer f.Close()
	if err := ready.Close(); err != nil {
		return fmt.Errorf("cloudmgr-logger: signal ready: %w", err)
	}
	return copyStreams(f, stdout, stderr)
}

// copyStreams copies each source to w until all end, one read at a time
// under a lock, so that the streams' writes never tear each other. A
// failed write does not stop the copy: the container must not block on a
// full pipe because its log cannot be written.
func copyStreams(w io.Writer, srcs ...io.Reader) error {
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs = make([]error, len(srcs))
	)
	for i, src := range srcs {
		wg.Go(func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := src.Read(buf)
				if n > 0 {
					mu.Lock()
					if _, werr := w.Write(buf[:n]); werr != nil && errs[i] == nil {
						errs[i] = werr
					}
					mu.Unlock()
				}
				if err != nil {
					if !errors.Is(err, io.EOF) && errs[i] == nil {
						errs[i] = err
					}
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
