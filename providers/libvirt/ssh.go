package libvirt

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// sshDialer reaches a remote libvirtd's unix socket through SSH
// (qemu+ssh://[USER@]HOST[:PORT]/system), like libvirt's own client: the
// query parameters keyfile, known_hosts, socket and no_verify=1 have
// libvirt's meaning. Keys come from keyfile (default the first of
// ~/.ssh/id_ed25519, id_ecdsa, id_rsa) and the SSH agent; the host key
// must be in known_hosts (default ~/.ssh/known_hosts) unless no_verify=1.
// Closing the connection closes the SSH session too.
type sshDialer struct {
	addr, user, socket  string
	keyFile, knownHosts string
	noVerify            bool
	timeout             time.Duration
}

func newSSHDialer(u *url.URL, timeout time.Duration) (*sshDialer, error) {
	if u.Hostname() == "" {
		return nil, fmt.Errorf("the ssh transport needs a host")
	}
	q := u.Query()
	d := &sshDialer{
		addr: net.JoinHostPort(u.Hostname(), "22"), user: u.User.Username(),
		socket: q.Get("socket"), keyFile: q.Get("keyfile"), knownHosts: q.Get("known_hosts"),
		noVerify: q.Get("no_verify") == "1", timeout: timeout,
	}
	if p := u.Port(); p != "" {
		d.addr = net.JoinHostPort(u.Hostname(), p)
	}
	if d.socket == "" {
		d.socket = defaultSocket
	}
	home, _ := os.UserHomeDir()
	if d.user == "" {
		if cu, err := user.Current(); err == nil {
			d.user = cu.Username
		}
	}
	if d.keyFile == "" {
		for _, k := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
			if p := filepath.Join(home, ".ssh", k); fileExists(p) {
				d.keyFile = p
				break
			}
		}
	}
	if d.knownHosts == "" {
		d.knownHosts = filepath.Join(home, ".ssh", "known_hosts")
	}
	return d, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Dial opens the SSH session and, in it, the daemon's socket.
func (d *sshDialer) Dial() (net.Conn, error) {
	var signers []ssh.Signer
	if d.keyFile != "" {
		pem, err := os.ReadFile(d.keyFile)
		if err != nil {
			return nil, fmt.Errorf("ssh key: %w", err)
		}
		s, err := ssh.ParsePrivateKey(pem)
		if err != nil {
			return nil, fmt.Errorf("ssh key %s: %w", d.keyFile, err)
		}
		signers = append(signers, s)
	}
	if sock := os.Getenv("SSH_AUTH_SOCK"); sock != "" {
		if c, err := net.Dial("unix", sock); err == nil {
			defer c.Close()
			if s, err := agent.NewClient(c).Signers(); err == nil {
				signers = append(signers, s...)
			}
		}
	}
	if len(signers) == 0 {
		return nil, errors.New("ssh: no key (set keyfile= in the URI, or run an SSH agent)")
	}
	hostKey := ssh.InsecureIgnoreHostKey() //nolint:gosec // no_verify=1 asked for it
	if !d.noVerify {
		cb, err := knownhosts.New(d.knownHosts)
		if err != nil {
			return nil, fmt.Errorf("ssh known hosts (or no_verify=1 in the URI): %w", err)
		}
		hostKey = cb
	}
	client, err := ssh.Dial("tcp", d.addr, &ssh.ClientConfig{
		User: d.user, Auth: []ssh.AuthMethod{ssh.PublicKeys(signers...)},
		HostKeyCallback: hostKey, Timeout: d.timeout,
	})
	if err != nil {
		return nil, fmt.Errorf("ssh %s@%s: %w", d.user, d.addr, err)
	}
	c, err := client.Dial("unix", d.socket)
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("ssh %s: libvirt socket %s: %w", d.addr, d.socket, err)
	}
	return &sshConn{Conn: c, client: client}, nil
}

// sshConn is the socket's channel; closing it ends the SSH session.
type sshConn struct {
	net.Conn
	client *ssh.Client
}

func (c *sshConn) Close() error {
	err := c.Conn.Close()
	if cerr := c.client.Close(); err == nil {
		err = cerr
	}
	return err
}
