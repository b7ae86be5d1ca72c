package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/store"
)

// Media types of Docker's distribution manifests, which OCI layouts and
// docker save tarballs may hold beside the OCI ones.
const (
	mediaDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	mediaDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaDockerConfig       = "application/vnd.docker.container.image.v1+json"
	mediaDockerLayer        = "application/vnd.docker.image.rootfs.diff.tar"
)

// maxManifestBytes bounds the manifests, indexes and configs read into
// memory; real ones are a few KiB.
const maxManifestBytes = 4 << 20

var (
	// errBlobMissing: a descriptor names a blob the source does not hold.
	errBlobMissing = errors.New("blob missing")
	// errBadContent: a blob is not what its descriptor says.
	errBadContent = errors.New("bad content")
)

// blobSource is where a walk finds blobs: the upload being checked, or
// the image store.
type blobSource interface {
	// size returns the size of blob d, and false when it is absent.
	size(d digest.Digest) (int64, bool)
	// read returns the whole content of blob d (only manifests and configs
	// are read).
	read(d digest.Digest) ([]byte, error)
}

// imageStore keeps image blobs content-addressed on local disk under
// dir/blobs/sha256/<hex>; which images exist is recorded in etcd as Image
// objects. mu orders the steps that must not interleave: a load moving
// blobs in and recording its images, and a sweep removing the blobs no
// image references.
type imageStore struct {
	dir      string
	maxBytes int64
	mu       sync.Mutex
}

func (st *imageStore) blobPath(d digest.Digest) string {
	return filepath.Join(st.dir, "blobs", "sha256", d.Encoded())
}

func (st *imageStore) size(d digest.Digest) (int64, bool) {
	if d.Algorithm() != digest.SHA256 || d.Validate() != nil {
		return 0, false
	}
	fi, err := os.Stat(st.blobPath(d))
	if err != nil || !fi.Mode().IsRegular() {
		return 0, false
	}
	return fi.Size(), true
}

func (st *imageStore) read(d digest.Digest) ([]byte, error) {
	f, err := os.Open(st.blobPath(d))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d, errBlobMissing)
	}
	defer f.Close()
	return readSmall(f, d)
}

func readSmall(r io.Reader, d digest.Digest) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxManifestBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", d, err)
	}
	if len(data) > maxManifestBytes {
		return nil, fmt.Errorf("%s: %w: a manifest or config larger than %d bytes", d, errBadContent, maxManifestBytes)
	}
	return data, nil
}

// imageWalk is what walking an image from its top descriptor found.
type imageWalk struct {
	// blobs maps every blob reachable from the top to its descriptor.
	blobs map[digest.Digest]ocispec.Descriptor
	// platforms are the os/arch[/variant] of the complete manifests.
	platforms []string
}

func (w *imageWalk) size() int64 {
	var n int64
	for _, d := range w.blobs {
		n += d.Size
	}
	return n
}

// walk checks that desc and everything it references is present in src
// with the sizes the descriptors give. An index may lack some of its
// manifests (a single-platform save of a multi-platform image does), but
// not all of them; a manifest must have its config and every layer.
func walk(src blobSource, desc ocispec.Descriptor) (*imageWalk, error) {
	w := &imageWalk{blobs: map[digest.Digest]ocispec.Descriptor{}}
	if err := w.walk(src, desc, 0); err != nil {
		return nil, err
	}
	sort.Strings(w.platforms)
	return w, nil
}

func (w *imageWalk) walk(src blobSource, desc ocispec.Descriptor, depth int) error {
	if depth > 4 {
		return fmt.Errorf("%s: %w: indexes nested too deep", desc.Digest, errBadContent)
	}
	if err := desc.Digest.Validate(); err != nil || desc.Digest.Algorithm() != digest.SHA256 {
		return fmt.Errorf("descriptor digest %q: %w: want sha256:<64 hex digits>", desc.Digest, errBadContent)
	}
	n, ok := src.size(desc.Digest)
	if !ok {
		return fmt.Errorf("%s: %w", desc.Digest, errBlobMissing)
	}
	if n != desc.Size {
		return fmt.Errorf("%s: %w: %d bytes, but its descriptor says %d", desc.Digest, errBadContent, n, desc.Size)
	}
	switch desc.MediaType {
	case ocispec.MediaTypeImageIndex, mediaDockerManifestList:
		data, err := src.read(desc.Digest)
		if err != nil {
			return err
		}
		var idx ocispec.Index
		if err := json.Unmarshal(data, &idx); err != nil {
			return fmt.Errorf("index %s: %w: %v", desc.Digest, errBadContent, err)
		}
		found := 0
		for _, m := range idx.Manifests {
			err := w.walk(src, m, depth+1)
			if errors.Is(err, errBlobMissing) {
				continue
			}
			if err != nil {
				return err
			}
			found++
		}
		if found == 0 {
			return fmt.Errorf("index %s: %w: none of its %d manifests is complete", desc.Digest, errBlobMissing, len(idx.Manifests))
		}
	case ocispec.MediaTypeImageManifest, mediaDockerManifest:
		data, err := src.read(desc.Digest)
		if err != nil {
			return err
		}
		var m ocispec.Manifest
		if err := json.Unmarshal(data, &m); err != nil {
			return fmt.Errorf("manifest %s: %w: %v", desc.Digest, errBadContent, err)
		}
		if err := w.walk(src, m.Config, depth+1); err != nil {
			return fmt.Errorf("config of manifest %s: %w", desc.Digest, err)
		}
		for i, l := range m.Layers {
			if err := w.walk(src, l, depth+1); err != nil {
				return fmt.Errorf("layer %d of manifest %s: %w", i, desc.Digest, err)
			}
		}
		if p := platformOf(src, m.Config); p != "" {
			w.platforms = append(w.platforms, p)
		}
	}
	w.blobs[desc.Digest] = desc
	return nil
}

// platformOf reads os/architecture[/variant] from an image config.
func platformOf(src blobSource, config ocispec.Descriptor) string {
	data, err := src.read(config.Digest)
	if err != nil {
		return ""
	}
	var p ocispec.Platform
	if json.Unmarshal(data, &p) != nil || p.OS == "" || p.Architecture == "" {
		return ""
	}
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// topDescriptor is the descriptor an Image object names.
func topDescriptor(img *api.Image) (ocispec.Descriptor, error) {
	d, err := digest.Parse(img.Status.Digest)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("image %s: status.digest: %w", img.Name, err)
	}
	st := ocispec.Descriptor{MediaType: img.Status.MediaType, Digest: d}
	return st, nil
}

// listImages reads every Image object.
func (s *Server) listImages(ctx context.Context) ([]*api.Image, error) {
	k, _ := s.scheme.ByKind(api.APIVersionImages, api.KindImage)
	items, _, err := s.store.List(ctx, storePrefix(k, ""), k.New, nil)
	if err != nil {
		return nil, err
	}
	out := make([]*api.Image, len(items))
	for i, o := range items {
		out[i] = o.(*api.Image)
	}
	return out, nil
}

// sweep removes the blobs no Image object references (mark and sweep).
// The caller holds st.mu.
func (s *Server) sweepBlobs(ctx context.Context) error {
	st := s.images
	imgs, err := s.listImages(ctx)
	if err != nil {
		return fmt.Errorf("sweep images: %w", err)
	}
	keep := map[string]bool{}
	for _, img := range imgs {
		top, err := topDescriptor(img)
		if err != nil {
			return err
		}
		top.Size, _ = st.size(top.Digest)
		w, err := walkLenient(st, top)
		if err != nil {
			return fmt.Errorf("sweep: image %s: %w", img.Spec.Ref, err)
		}
		for d := range w {
			keep[d.Encoded()] = true
		}
	}
	dir := filepath.Join(st.dir, "blobs", "sha256")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if !keep[e.Name()] {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// walkLenient marks every blob reachable from top that is present, and
// never fails on a missing or damaged one: a sweep must keep what it can.
// It fails only when a present manifest cannot be read at all.
func walkLenient(src blobSource, top ocispec.Descriptor) (map[digest.Digest]bool, error) {
	seen := map[digest.Digest]bool{}
	var visit func(d ocispec.Descriptor, depth int) error
	visit = func(d ocispec.Descriptor, depth int) error {
		if depth > 4 || seen[d.Digest] {
			return nil
		}
		if _, ok := src.size(d.Digest); !ok {
			return nil
		}
		seen[d.Digest] = true
		if !isManifestType(d.MediaType) {
			return nil
		}
		data, err := src.read(d.Digest)
		if err != nil {
			return err
		}
		var m struct {
			Config    *ocispec.Descriptor  `json:"config"`
			Layers    []ocispec.Descriptor `json:"layers"`
			Manifests []ocispec.Descriptor `json:"manifests"`
		}
		if json.Unmarshal(data, &m) != nil {
			return nil
		}
		children := append(m.Layers, m.Manifests...)
		if m.Config != nil {
			children = append(children, *m.Config)
		}
		for _, c := range children {
			if err := visit(c, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return seen, visit(top, 0)
}

func isManifestType(mt string) bool {
	switch mt {
	case ocispec.MediaTypeImageIndex, mediaDockerManifestList, ocispec.MediaTypeImageManifest, mediaDockerManifest:
		return true
	}
	return false
}

// repositoryOf is the repository of a normalized reference:
// "airgap.example/app:1.0" gives "airgap.example/app".
func repositoryOf(ref string) string {
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return ref
}

// isNotFound tells a store not-found apart from other failures.
func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
