package containerd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	remoteerrors "github.com/containerd/containerd/v2/core/remotes/errors"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"

	"github.com/cloudmgr/cloud/caas"
)

// EnsureImage returns the digest of ref, pulling and unpacking it first
// when it is not present or always is set. Pull failures wrap
// caas.ErrImageNotFound, caas.ErrUnauthorized or caas.ErrRegistryUnavailable.
func (r *Runtime) EnsureImage(ctx context.Context, ref string, always bool, auth *caas.RegistryAuth) (string, error) {
	ctx = r.ctx(ctx)
	if !always {
		img, err := r.client.GetImage(ctx, ref)
		if err == nil {
			if err := r.unpack(ctx, img); err != nil {
				return "", err
			}
			return img.Target().Digest.String(), nil
		}
		if !errdefs.IsNotFound(err) {
			return "", fmt.Errorf("look up image %s: %w", ref, err)
		}
	}
	opts := []containerd.RemoteOpt{
		containerd.WithResolver(r.resolver(ref, auth)),
		containerd.WithPullUnpack,
	}
	if r.cfg.Snapshotter != "" {
		opts = append(opts, containerd.WithPullSnapshotter(r.cfg.Snapshotter))
	}
	// The pull's lease is ours, released on a context of its own: the
	// client's releases it with the caller's context, which fails once
	// that is cancelled (a pod deleted mid-pull), leaving the lease and
	// the partial download behind for a day.
	ls := r.client.LeasesService()
	lease, err := ls.Create(ctx, leases.WithRandomID(), leases.WithExpiration(time.Hour))
	if err != nil {
		return "", fmt.Errorf("pull %s: lease: %w", ref, err)
	}
	img, err := r.client.Pull(leases.WithLease(ctx, lease.ID), ref, opts...)
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	var del []leases.DeleteOpt
	if err != nil {
		del = append(del, leases.SynchronousDelete) // collect the partial download now
	}
	if lerr := ls.Delete(cctx, lease, del...); lerr != nil && err == nil {
		return "", fmt.Errorf("pull %s: release lease: %w", ref, lerr)
	}
	if err != nil {
		err = classifyPullError(err)
		if errors.Is(err, caas.ErrImageNotFound) && r.mirror != nil {
			err = r.originError(ctx, ref, auth, err)
		}
		return "", fmt.Errorf("pull %s: %w", ref, err)
	}
	return img.Target().Digest.String(), nil
}

// originError asks the image's own registry, without the control-plane
// mirror, why ref cannot be resolved. containerd's resolver keeps the first
// host's error: the mirror's "not found" would hide that the registry is
// down or refuses the login. It returns notFound when the registry agrees.
func (r *Runtime) originError(ctx context.Context, ref string, auth *caas.RegistryAuth, notFound error) error {
	_, _, err := r.resolverWith(ref, auth, false).Resolve(ctx, ref)
	if err == nil {
		return notFound // there now: the pull's own error stands
	}
	if cerr := classifyPullError(err); !errors.Is(cerr, caas.ErrImageNotFound) {
		return cerr
	}
	return notFound
}

// unpack makes sure an image already present (imported, or pulled for
// another snapshotter) is unpacked into ours.
func (r *Runtime) unpack(ctx context.Context, img containerd.Image) error {
	ok, err := img.IsUnpacked(ctx, r.cfg.Snapshotter)
	if err != nil {
		return fmt.Errorf("image %s: %w", img.Name(), err)
	}
	if ok {
		return nil
	}
	if err := img.Unpack(ctx, r.cfg.Snapshotter); err != nil {
		return fmt.Errorf("unpack %s: %w", img.Name(), err)
	}
	return nil
}

// resolver pulls over plain HTTP from the configured hosts and answers
// the auth challenges of ref's registry, and of no other host, with auth
// when given (a redirect or a token realm elsewhere gets no password).
func (r *Runtime) resolver(ref string, auth *caas.RegistryAuth) remotes.Resolver {
	return r.resolverWith(ref, auth, true)
}

// resolverWith is resolver, with the control-plane mirror first or not.
func (r *Runtime) resolverWith(ref string, auth *caas.RegistryAuth, withMirrorHost bool) remotes.Resolver {
	plain := func(host string) (bool, error) {
		return slices.Contains(r.cfg.PlainHTTPRegistries, host), nil
	}
	ropts := []docker.RegistryOpt{docker.WithPlainHTTP(plain)}
	if auth != nil {
		registry := registryHost(ref)
		creds := func(host string) (string, string, error) {
			if !sameRegistry(host, registry) {
				return "", "", nil
			}
			return auth.Username, auth.Password, nil
		}
		ropts = append(ropts, docker.WithAuthorizer(docker.NewDockerAuthorizer(docker.WithAuthCreds(creds))))
	}
	hosts := docker.ConfigureDefaultRegistries(ropts...)
	if withMirrorHost {
		hosts = withMirror(r.mirror, hosts)
	}
	return docker.NewResolver(docker.ResolverOptions{Hosts: hosts})
}

// registryHost is the registry host of an image reference ("docker.io"
// for Docker Hub images), or "" when ref does not parse.
func registryHost(ref string) string {
	named, err := reference.ParseDockerRef(ref)
	if err != nil {
		return ""
	}
	return reference.Domain(named)
}

// sameRegistry reports whether a host the resolver talks to is registry:
// Docker Hub ("docker.io") is served from registry-1.docker.io.
func sameRegistry(host, registry string) bool {
	if registry == "" {
		return false
	}
	return host == registry || (registry == "docker.io" && host == "registry-1.docker.io")
}

// classifyPullError wraps err with the caas sentinel that names its cause,
// or returns it unchanged when the cause is none of them.
func classifyPullError(err error) error {
	var status remoteerrors.ErrUnexpectedStatus
	switch {
	case errors.Is(err, docker.ErrInvalidAuthorization):
		return fmt.Errorf("%w: %w", caas.ErrUnauthorized, err)
	case errors.As(err, &status) && (status.StatusCode == 401 || status.StatusCode == 403):
		return fmt.Errorf("%w: %w", caas.ErrUnauthorized, err)
	case errors.As(err, &status) && status.StatusCode >= 500:
		return fmt.Errorf("%w: %w", caas.ErrRegistryUnavailable, err)
	case errdefs.IsNotFound(err):
		return fmt.Errorf("%w: %w", caas.ErrImageNotFound, err)
	case isNetworkError(err):
		return fmt.Errorf("%w: %w", caas.ErrRegistryUnavailable, err)
	}
	return err
}

// isNetworkError reports whether err comes from failing to talk to a host
// at all: refused, unreachable, timed out or unresolvable.
func isNetworkError(err error) bool {
	var opErr *net.OpError
	var dnsErr *net.DNSError
	var urlErr *url.Error
	return errors.As(err, &opErr) || errors.As(err, &dnsErr) || errors.As(err, &urlErr) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.ECONNRESET)
}
