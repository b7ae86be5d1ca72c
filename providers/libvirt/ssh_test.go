package libvirt

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/cloudmgr/cloud/iaas"
)

// sshServer is an SSH server of the test's own on loopback that accepts
// one client key and forwards direct-streamlocal channels (what "ssh -W"
// and libvirt's ssh transport use) to unix sockets: a remote hypervisor
// reached through SSH.
type sshServer struct {
	addr     string
	hostKey  ssh.PublicKey
	sessions sync.WaitGroup
	mu       sync.Mutex
	open     int
}

func startSSHServer(t *testing.T, clientKey ssh.PublicKey) *sshServer {
	t.Helper()
	_, hostPriv, _ := ed25519.GenerateKey(rand.Reader)
	hostSigner, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
		if string(k.Marshal()) == string(clientKey.Marshal()) {
			return nil, nil
		}
		return nil, errors.New("unknown key")
	}}
	cfg.AddHostKey(hostSigner)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sshServer{addr: ln.Addr().String(), hostKey: hostSigner.PublicKey()}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c, cfg)
		}
	}()
	return s
}

func (s *sshServer) serve(c net.Conn, cfg *ssh.ServerConfig) {
	sc, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		c.Close()
		return
	}
	s.mu.Lock()
	s.open++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.open--
		s.mu.Unlock()
	}()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "direct-streamlocal@openssh.com" {
			nc.Reject(ssh.UnknownChannelType, "only direct-streamlocal")
			continue
		}
		var req struct {
			Path      string
			Reserved0 string
			Reserved1 uint32
		}
		if err := ssh.Unmarshal(nc.ExtraData(), &req); err != nil {
			nc.Reject(ssh.ConnectionFailed, err.Error())
			continue
		}
		up, err := net.Dial("unix", req.Path)
		if err != nil {
			nc.Reject(ssh.ConnectionFailed, err.Error())
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			up.Close()
			continue
		}
		go ssh.DiscardRequests(creqs)
		go func() { _, _ = io.Copy(up, ch); up.Close() }()
		go func() { _, _ = io.Copy(ch, up); ch.Close() }()
	}
	sc.Close()
}

func (s *sshServer) sessionsOpen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open
}

// TestSSHTransport reaches the project's libvirtd as a remote hypervisor
// through SSH: test+ssh://USER@HOST:PORT/default?socket=...&keyfile=...
func TestSSHTransport(t *testing.T) {
	uri := libvirtURI(t, "test")
	raw := rawConn(t, uri)
	_ = raw
	sock := strings.SplitN(uri, "socket=", 2)[1]
	dir := t.TempDir()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	clientKey, _ := ssh.NewPublicKey(pub)
	srv := startSSHServer(t, clientKey)
	knownHosts := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(knownHosts, []byte(knownhosts.Line([]string{srv.addr}, srv.hostKey)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := "test+ssh://tester@" + srv.addr + "/default?socket=" + sock + "&keyfile=" + keyFile
	p, _ := newProvider(t, "", Config{Pool: "default-pool", Hypervisors: map[string]string{
		"remote":     base + "&known_hosts=" + knownHosts,
		"unverified": base + "&no_verify=1",
		"stranger":   base + "&known_hosts=" + filepath.Join(dir, "empty"),
	}})
	if err := os.WriteFile(filepath.Join(dir, "empty"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t, time.Minute)
	for _, hv := range []string{"remote", "unverified"} {
		info, err := p.InspectHost(ctx, hv, "")
		if err != nil {
			t.Fatalf("InspectHost(%s): %v", hv, err)
		}
		if info.DomainType != "test" || info.CPUs <= 0 {
			t.Fatalf("InspectHost(%s) = %+v", hv, info)
		}
		tgt, _ := parseURI(p.hvs[hv].uri, time.Second)
		if tgt.local {
			t.Fatalf("%s: an ssh hypervisor counts as local", hv)
		}
	}
	// A host key not in known_hosts is refused.
	if _, err := p.InspectHost(ctx, "stranger", ""); !errors.Is(err, iaas.ErrUnreachable) || !strings.Contains(err.Error(), "key") {
		t.Fatalf("InspectHost with an unknown host key = %v, want ErrUnreachable about the key", err)
	}
	// Closing the connection ends its SSH session (no leak per re-dial).
	_ = p.Close()
	deadline := time.Now().Add(10 * time.Second)
	for srv.sessionsOpen() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d SSH sessions still open after Close", srv.sessionsOpen())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
