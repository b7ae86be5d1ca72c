package containerd

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/core/remotes/docker"
)

// MirrorConfig makes the control plane a pull-through mirror of every
// registry: images loaded with `cloudctl image load` are pulled from the
// API server's read-only /v2/ registry, and anything it does not hold
// (404) from the image's own registry, at once.
type MirrorConfig struct {
	// URL is the API server, e.g. https://10.0.0.1:6443.
	URL string
	// CA is the PEM bundle that signs the API server's certificate (empty:
	// the system roots).
	CA []byte
	// Token is the node's bearer token. It is sent only to the mirror.
	Token string
}

// mirrorHost builds the registry host of the control plane, or returns
// nil when m is nil.
func mirrorHost(m *MirrorConfig) (*docker.RegistryHost, error) {
	if m == nil {
		return nil, nil
	}
	u, err := url.Parse(strings.TrimRight(m.URL, "/"))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("mirror URL %q: must be an http(s) URL", m.URL)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if len(m.CA) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(m.CA) {
			return nil, errors.New("mirror CA holds no PEM certificate")
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	// An unreachable control plane must not hold a pull up for long: the
	// image's own registry is next.
	tr.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = 5 * time.Second
	h := &docker.RegistryHost{
		Client:       &http.Client{Transport: tr},
		Host:         u.Host,
		Scheme:       u.Scheme,
		Path:         strings.TrimRight(u.Path, "/") + "/v2",
		Capabilities: docker.HostCapabilityPull | docker.HostCapabilityResolve,
		Header:       http.Header{},
	}
	if m.Token != "" {
		h.Header.Set("Authorization", "Bearer "+m.Token)
	}
	return h, nil
}

// withMirror puts the control plane first among the hosts of every
// registry; containerd tries the next host when it answers 404 or cannot
// be reached.
func withMirror(mirror *docker.RegistryHost, next docker.RegistryHosts) docker.RegistryHosts {
	if mirror == nil {
		return next
	}
	return func(host string) ([]docker.RegistryHost, error) {
		hosts, err := next(host)
		if err != nil {
			return nil, err
		}
		return append([]docker.RegistryHost{*mirror}, hosts...), nil
	}
}
