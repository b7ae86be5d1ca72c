// Package test holds helpers shared by the end-to-end suites and the
// benchmarks: building the binaries and running cloudd as a process.
package test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

var built struct {
	sync.Mutex
	dir  string
	done map[string]bool
}

// Binaries builds the named commands (default: cloudd, cloudlet, cloudctl)
// once per test process into .run/testbin of the repository and returns
// that directory (one per checkout). It is shared by the test processes `go test ./...` runs
// at once: each builds into a file of its own and renames it into place,
// so a binary another process runs is never half written, and nothing is
// left behind in the system's temporary directory.
func Binaries(names ...string) (string, error) {
	if len(names) == 0 {
		names = []string{"cloudd", "cloudlet", "cloudctl"}
	}
	built.Lock()
	defer built.Unlock()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(file))
	if built.dir == "" {
		// Worktrees of one repository may share .run (a symlink): each
		// checkout gets its own directory, named after its path.
		sum := sha256.Sum256([]byte(root))
		dir := filepath.Join(root, ".run", "testbin", hex.EncodeToString(sum[:6]))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		built.dir, built.done = dir, map[string]bool{}
	}
	for _, n := range names {
		if n == "cloudlet" || n == "cloudd" {
			// Their containers log through the log driver beside them.
			names = append(names, "cloudmgr-logger")
		}
	}
	for _, n := range names {
		if built.done[n] {
			continue
		}
		tmp := filepath.Join(built.dir, fmt.Sprintf(".%s.%d", n, os.Getpid()))
		cmd := exec.Command("go", "build", "-o", tmp, "./cmd/"+n)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			_ = os.Remove(tmp)
			return "", fmt.Errorf("go build %s: %v\n%s", n, err, out)
		}
		if err := os.Rename(tmp, filepath.Join(built.dir, n)); err != nil {
			return "", err
		}
		built.done[n] = true
	}
	return built.dir, nil
}

// handedOut are the ports FreePort returned in this process.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// FreePort returns a loopback port that was free a moment ago and that it
// has not returned before in this process: the kernel may give a port
// just closed again, and a test asking for several (an etcd cluster's
// peer and client URLs) must not get one twice.
func FreePort() (int, error) {
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		handedOut.Lock()
		seen := handedOut.ports[port]
		handedOut.ports[port] = true
		handedOut.Unlock()
		if !seen {
			return port, nil
		}
	}
	return 0, errors.New("no free loopback port that was not handed out already")
}

// Cloudd is a cloudd process started by a test.
type Cloudd struct {
	Cmd     *exec.Cmd
	DataDir string
	Addr    string
	Log     *strings.Builder
	done    chan error
}

// StartCloudd runs the cloudd binary with extra flags and returns at once.
func StartCloudd(bin, dataDir, addr string, extra ...string) (*Cloudd, error) {
	args := append([]string{"--data-dir", dataDir, "--listen", addr, "--log-level", "warn"}, extra...)
	cmd := exec.Command(filepath.Join(bin, "cloudd"), args...)
	log := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &Cloudd{Cmd: cmd, DataDir: dataDir, Addr: addr, Log: log, done: make(chan error, 1)}
	go func() { c.done <- cmd.Wait() }()
	return c, nil
}

// Exited returns the exit error once the process has ended, or false.
func (c *Cloudd) Exited(wait time.Duration) (error, bool) {
	select {
	case err := <-c.done:
		c.done <- err
		return err, true
	case <-time.After(wait):
		return nil, false
	}
}

// WaitReady polls /readyz over HTTPS with the data dir's CA until it
// answers 200, the process exits, or the timeout passes.
func (c *Cloudd) WaitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	caFile := filepath.Join(c.DataDir, "pki", "ca.crt")
	var hc *http.Client
	for time.Now().Before(deadline) {
		if err, done := c.Exited(0); done {
			return fmt.Errorf("cloudd exited (%v): %s", err, c.Log.String())
		}
		if hc == nil {
			if pem, err := os.ReadFile(caFile); err == nil {
				pool := x509.NewCertPool()
				if pool.AppendCertsFromPEM(pem) {
					hc = &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
				}
			}
		}
		if hc != nil {
			req, _ := http.NewRequestWithContext(ctx, "GET", "https://"+c.Addr+"/readyz", nil)
			if resp, err := hc.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					hc.CloseIdleConnections()
					return nil
				}
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	return fmt.Errorf("cloudd not ready after %s: %s", timeout, c.Log.String())
}

// Stop sends sig and waits for the process to end.
func (c *Cloudd) Stop(sig os.Signal) error {
	_ = c.Cmd.Process.Signal(sig)
	err, done := c.Exited(30 * time.Second)
	if !done {
		_ = c.Cmd.Process.Kill()
		return fmt.Errorf("cloudd did not stop on %v", sig)
	}
	return err
}
