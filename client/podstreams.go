package client

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
)

// LogOptions select what Client.Logs reads, as kubectl logs does.
type LogOptions struct {
	// Container names the container; empty picks the pod's only one.
	Container string
	// Follow streams what the container writes until it exits or the
	// caller's context ends.
	Follow bool
	// TailLines, when set, starts that many lines before the end.
	TailLines *int64
	// Previous reads the log of the container's previous attempt.
	Previous bool
}

// Logs streams a container's log (stdout and stderr as written). The
// caller closes the reader; with Follow, cancelling ctx ends the stream.
func (c *Client) Logs(ctx context.Context, namespace, pod string, opts LogOptions) (io.ReadCloser, error) {
	q := url.Values{}
	if opts.Container != "" {
		q.Set("container", opts.Container)
	}
	if opts.Follow {
		q.Set("follow", "true")
	}
	if opts.TailLines != nil {
		q.Set("tailLines", strconv.FormatInt(*opts.TailLines, 10))
	}
	if opts.Previous {
		q.Set("previous", "true")
	}
	resp, err := c.stream(ctx, http.MethodGet, podPath(namespace, pod)+"/log", q, nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// ExecOptions say what Client.Exec runs.
type ExecOptions struct {
	// Container names the container; empty picks the pod's only one.
	Container string
	// Command is the program and its arguments.
	Command []string
}

// Exec runs a command in a running container of a pod, copies its stdout
// and stderr to the writers (nil ones are discarded) and returns its exit
// code. A non-nil stdin is sent as the command's standard input, which
// ends when stdin does. Cancelling ctx kills the command.
func (c *Client) Exec(ctx context.Context, namespace, pod string, opts ExecOptions, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	if len(opts.Command) == 0 {
		return -1, errors.New("exec: a command is required")
	}
	q := url.Values{"command": opts.Command}
	if opts.Container != "" {
		q.Set("container", opts.Container)
	}
	var body io.Reader
	if stdin != nil {
		q.Set("stdin", "true")
		body = stdin
	}
	resp, err := c.stream(ctx, http.MethodPost, podPath(namespace, pod)+"/exec", q, body)
	if err != nil {
		return -1, err
	}
	defer resp.Body.Close()
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	return CopyExecFrames(resp.Body, stdout, stderr)
}

func podPath(namespace, pod string) string {
	return "/api/v1/namespaces/" + url.PathEscape(namespace) + "/pods/" + url.PathEscape(pod)
}

// stream sends a request whose answer is read as it comes, bounded only
// by ctx, and returns the response once it is a success.
func (c *Client) stream(ctx context.Context, method, path string, query url.Values, body io.Reader) (*http.Response, error) {
	u := *c.base
	u.Path = c.base.Path + path
	u.RawQuery = query.Encode()
	if body != nil {
		// The transport must not close the caller's reader (os.Stdin).
		body = io.NopCloser(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("User-Agent", c.agent)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u.Redacted(), err)
	}
	if resp.StatusCode/100 != 2 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		_ = resp.Body.Close()
		return nil, statusError(resp.StatusCode, data)
	}
	return resp, nil
}

// Exec streams are a sequence of frames: one byte naming the stream, a
// 4-byte big-endian payload length, the payload. The last frame is
// ExecStreamExit (a 4-byte big-endian exit code) or ExecStreamError (a
// message: the command could not be run).
const (
	ExecStreamStdout byte = 1
	ExecStreamStderr byte = 2
	ExecStreamError  byte = 3
	ExecStreamExit   byte = 4
)

// ExecFramesContentType is the media type of an exec answer.
const ExecFramesContentType = "application/vnd.cloudmgr.exec-frames"

// maxFrame bounds one frame's payload, so a bad peer cannot make the
// reader allocate without bound.
const maxFrame = 1 << 20

// ErrExecProtocol means an exec stream broke the frame format or ended
// without an exit code.
var ErrExecProtocol = errors.New("exec stream broken")

// FrameWriter writes exec frames; it is safe for concurrent use, so the
// stdout and stderr copies of a process may share it. Flush, when set, is
// called after each frame so output reaches the reader at once.
type FrameWriter struct {
	mu    sync.Mutex
	w     io.Writer
	flush func()
}

// NewFrameWriter writes frames to w, calling flush (may be nil) after each.
func NewFrameWriter(w io.Writer, flush func()) *FrameWriter {
	return &FrameWriter{w: w, flush: flush}
}

// WriteFrame writes one frame, splitting payloads larger than a frame.
func (f *FrameWriter) WriteFrame(stream byte, p []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for {
		n := min(len(p), maxFrame)
		var hdr [5]byte
		hdr[0] = stream
		binary.BigEndian.PutUint32(hdr[1:], uint32(n))
		if _, err := f.w.Write(hdr[:]); err != nil {
			return err
		}
		if _, err := f.w.Write(p[:n]); err != nil {
			return err
		}
		p = p[n:]
		if len(p) == 0 {
			break
		}
	}
	if f.flush != nil {
		f.flush()
	}
	return nil
}

// Stream returns a writer whose writes become frames of stream.
func (f *FrameWriter) Stream(stream byte) io.Writer { return frameStream{f: f, stream: stream} }

// Exit writes the final frame with the exit code.
func (f *FrameWriter) Exit(code int) error {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(int32(code)))
	return f.WriteFrame(ExecStreamExit, b[:])
}

type frameStream struct {
	f      *FrameWriter
	stream byte
}

func (s frameStream) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if err := s.f.WriteFrame(s.stream, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// CopyExecFrames reads an exec stream to its end, copying stdout and
// stderr frames to the writers, and returns the exit code of the final
// frame. An error frame is returned as an error.
func CopyExecFrames(r io.Reader, stdout, stderr io.Writer) (int, error) {
	var hdr [5]byte
	buf := make([]byte, 32<<10)
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return -1, fmt.Errorf("%w: it ended without an exit code", ErrExecProtocol)
			}
			return -1, fmt.Errorf("exec: read: %w", err)
		}
		n := binary.BigEndian.Uint32(hdr[1:])
		if n > maxFrame {
			return -1, fmt.Errorf("%w: frame of %d bytes", ErrExecProtocol, n)
		}
		if int(n) > len(buf) {
			buf = make([]byte, n)
		}
		p := buf[:n]
		if _, err := io.ReadFull(r, p); err != nil {
			return -1, fmt.Errorf("%w: truncated frame: %w", ErrExecProtocol, err)
		}
		var err error
		switch hdr[0] {
		case ExecStreamStdout:
			_, err = stdout.Write(p)
		case ExecStreamStderr:
			_, err = stderr.Write(p)
		case ExecStreamError:
			return -1, fmt.Errorf("exec: %s", p)
		case ExecStreamExit:
			if n != 4 {
				return -1, fmt.Errorf("%w: exit frame of %d bytes", ErrExecProtocol, n)
			}
			return int(int32(binary.BigEndian.Uint32(p))), nil
		default:
			return -1, fmt.Errorf("%w: unknown stream %d", ErrExecProtocol, hdr[0])
		}
		if err != nil {
			return -1, fmt.Errorf("exec: write output: %w", err)
		}
	}
}
