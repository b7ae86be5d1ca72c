package containerd

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"sync"

	"github.com/containerd/containerd/v2/pkg/cio"
)

// LogDriverCommand is the subcommand under which cloudlet and cloudd act
// as the log driver of a container: `BINARY log-driver FILE`.
//
// Why a log driver: containerd's own file logging (a file:// log URI) has
// the shim copy stdout and stderr into one file, and the stdout copier
// closes the shared file when stdout ends, so stderr written at the end of
// a container's life is lost (containerd 1.6 here, and the same code in
// 2.x). With a binary:// log URI the shim starts this process instead,
// handing it the container's stdout and stderr pipes, and it writes both
// to the file until both end. It is a child of the shim, so it outlives a
// restart of the agent, as the file logging did.
const LogDriverCommand = "log-driver"

// logCreator is how the runtime wires a container's output to path: through
// the log driver when one is configured, else containerd's file logging.
func (r *Runtime) logCreator(path string) cio.Creator {
	if path == "" {
		return cio.NullIO
	}
	if r.cfg.LogDriver == "" {
		return cio.LogFile(path)
	}
	// The shim runs Path with each query key and its value as arguments.
	return cio.LogURI(&url.URL{Scheme: "binary", Path: r.cfg.LogDriver,
		RawQuery: url.Values{LogDriverCommand: {path}}.Encode()})
}

// RunLogDriver is the log driver process: containerd's shim passes the
// container's stdout and stderr as file descriptors 3 and 4 and waits for
// descriptor 5 to close before it starts the container. It appends both
// streams to path, each read written whole, until both end.
func RunLogDriver(path string) error {
	stdout, stderr, ready := os.NewFile(3, "stdout"), os.NewFile(4, "stderr"), os.NewFile(5, "ready")
	if stdout == nil || stderr == nil || ready == nil {
		return errors.New("log driver: run by containerd's shim only (file descriptors 3, 4 and 5 missing)")
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		_ = ready.Close()
		return fmt.Errorf("log driver: %w", err)
	}
	defer f.Close()
	if err := ready.Close(); err != nil {
		return fmt.Errorf("log driver: signal ready: %w", err)
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
