package containerd

import (
	"net/url"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/containerd/containerd/v2/pkg/cio"
)

// LogDriverFileFlag is the flag by which the log driver
// (cmd/cloudmgr-logger) is told its file: `cloudmgr-logger --file FILE`.
//
// Why a log driver: containerd's own file logging (a file:// log URI) has
// the shim copy stdout and stderr into one file, and the stdout copier
// closes the shared file when stdout ends, so stderr written at the end of
// a container's life is lost (containerd 1.6 here, and the same code in
// 2.x). With a binary:// log URI the shim starts this process instead,
// handing it the container's stdout and stderr pipes, and it writes both
// to the file until both end. It is a child of the shim, so it outlives a
// restart of the agent, as the file logging did. It is a binary of its
// own, importing nothing but the standard library, because one runs per
// container: cloudlet itself would cost 16 MiB of private memory each.
const LogDriverFileFlag = "--file"

// LogDriverName is the log driver's executable.
const LogDriverName = "cloudmgr-logger"

// FindLogDriver returns the absolute path of the log driver: beside the
// running executable (how the project installs it) or else on PATH; ""
// when there is none.
func FindLogDriver() string {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), LogDriverName)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	if p, err := exec.LookPath(LogDriverName); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs
		}
	}
	return ""
}

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
		RawQuery: url.Values{LogDriverFileFlag: {path}}.Encode()})
}
