package apiserver

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/store"
)

// Annotations that name an image in an OCI layout's index.json.
const (
	annotationContainerdName = "io.containerd.image.name"
	annotationRefName        = ocispec.AnnotationRefName
)

// upload is a tarball being received: every regular file is staged in dir
// under its digest while it is hashed, so nothing is buffered in memory
// and nothing reaches the store before the whole upload checks out.
type upload struct {
	dir   string
	files map[string]stagedFile // by path in the tarball
	blobs map[digest.Digest]int64
	links map[string]string // link path -> target path
}

type stagedFile struct {
	digest digest.Digest
	size   int64
}

func (u *upload) stagedPath(d digest.Digest) string { return filepath.Join(u.dir, d.Encoded()) }

func (u *upload) size(d digest.Digest) (int64, bool) {
	n, ok := u.blobs[d]
	return n, ok
}

func (u *upload) read(d digest.Digest) ([]byte, error) {
	f, err := os.Open(u.stagedPath(d))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d, errBlobMissing)
	}
	defer f.Close()
	return readSmall(f, d)
}

// file finds a file of the tarball by path, following links.
func (u *upload) file(p string) (stagedFile, bool) {
	for range 8 {
		p = cleanTarPath(p)
		if f, ok := u.files[p]; ok {
			return f, true
		}
		t, ok := u.links[p]
		if !ok {
			return stagedFile{}, false
		}
		p = t
	}
	return stagedFile{}, false
}

func cleanTarPath(p string) string {
	return strings.TrimPrefix(path.Clean("/"+p), "/")
}

// receive reads the tarball from r into u.dir. Blobs under blobs/sha256/
// must hash to their file name.
func (u *upload) receive(r io.Reader) error {
	tr := tar.NewReader(r)
	entries := 0
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return tarError(err, entries)
		}
		entries++
		name := cleanTarPath(hdr.Name)
		switch hdr.Typeflag {
		case tar.TypeReg:
			f, err := u.stage(tr)
			if err != nil {
				return tarError(err, entries)
			}
			if f.size != hdr.Size {
				return errBadRequest("invalid image tarball: %s is truncated", name)
			}
			if hexd, ok := strings.CutPrefix(name, "blobs/sha256/"); ok && hexd != f.digest.Encoded() {
				return errBadRequest("invalid image tarball: digest mismatch: %s holds content with digest %s", name, f.digest)
			}
			u.files[name] = f
		case tar.TypeSymlink:
			u.links[name] = path.Join(path.Dir(name), hdr.Linkname)
		case tar.TypeLink:
			u.links[name] = hdr.Linkname
		}
	}
	if entries == 0 {
		return errBadRequest("invalid image tarball: the archive is empty")
	}
	return nil
}

// tarError turns a failure to read the tarball into a 400, unless it is the
// upload limit (413) or the client going away.
func tarError(err error, entries int) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return err
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return errBadRequest("invalid image tarball: the archive is truncated")
	}
	if entries == 0 {
		return errBadRequest("invalid image tarball: not a tar archive: %v", err)
	}
	return errBadRequest("invalid image tarball: %v", err)
}

// stage copies one file into the staging directory, hashing it on the way.
func (u *upload) stage(r io.Reader) (stagedFile, error) {
	tmp, err := os.CreateTemp(u.dir, ".part-*")
	if err != nil {
		return stagedFile{}, fmt.Errorf("stage blob: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), r)
	if err == nil {
		err = tmp.Close()
	} else {
		tmp.Close()
	}
	if err != nil {
		return stagedFile{}, err
	}
	f := stagedFile{digest: digest.NewDigest(digest.SHA256, h), size: n}
	if _, dup := u.blobs[f.digest]; !dup {
		if err := os.Rename(tmp.Name(), u.stagedPath(f.digest)); err != nil {
			return stagedFile{}, fmt.Errorf("stage blob: %w", err)
		}
		u.blobs[f.digest] = n
	}
	return f, nil
}

// namedImage is one image reference found in the tarball, checked.
type namedImage struct {
	ref  string
	desc ocispec.Descriptor
	walk *imageWalk
}

// images finds the images of an OCI layout (index.json) or of a docker
// save tarball (manifest.json) and checks that each one is complete.
func (u *upload) images() ([]namedImage, error) {
	var tops []namedImage
	var err error
	if f, ok := u.file("index.json"); ok {
		tops, err = u.ociImages(f)
	} else if f, ok := u.file("manifest.json"); ok {
		tops, err = u.dockerImages(f)
	} else {
		return nil, errBadRequest("invalid image tarball: it has neither index.json (an OCI image layout) nor manifest.json (docker save)")
	}
	if err != nil {
		return nil, err
	}
	if len(tops) == 0 {
		return nil, errBadRequest("invalid image tarball: it names no image")
	}
	seen := map[string]bool{}
	for i := range tops {
		t := &tops[i]
		if seen[t.ref] {
			return nil, errBadRequest("invalid image tarball: image %s is named twice", t.ref)
		}
		seen[t.ref] = true
		if t.walk, err = walk(u, t.desc); err != nil {
			return nil, errBadRequest("invalid image tarball: image %s: %v", t.ref, err)
		}
	}
	return tops, nil
}

func (u *upload) ociImages(f stagedFile) ([]namedImage, error) {
	data, err := u.read(f.digest)
	if err != nil {
		return nil, errBadRequest("invalid image tarball: index.json: %v", err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, errBadRequest("invalid image tarball: index.json: %v", err)
	}
	var out []namedImage
	for i, m := range idx.Manifests {
		name := m.Annotations[annotationContainerdName]
		if name == "" && strings.Contains(m.Annotations[annotationRefName], "/") {
			name = m.Annotations[annotationRefName]
		}
		if name == "" {
			return nil, errBadRequest("invalid image tarball: index.json: manifests[%d] (%s) has no image name: want the annotation %s (or %s holding a full reference)",
				i, m.Digest, annotationContainerdName, annotationRefName)
		}
		ref, err := api.NormalizeImageRef(name)
		if err != nil {
			return nil, errBadRequest("invalid image tarball: index.json: manifests[%d]: %v", i, err)
		}
		if m.MediaType == "" {
			m.MediaType = ocispec.MediaTypeImageManifest
		}
		out = append(out, namedImage{ref: ref, desc: ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size}})
	}
	return out, nil
}

// dockerImages builds a Docker distribution manifest for each entry of a
// docker save manifest.json, from the config and layer files it names.
func (u *upload) dockerImages(f stagedFile) ([]namedImage, error) {
	data, err := u.read(f.digest)
	if err != nil {
		return nil, errBadRequest("invalid image tarball: manifest.json: %v", err)
	}
	var entries []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(data, &entries); err != nil {
		return nil, errBadRequest("invalid image tarball: manifest.json: %v", err)
	}
	var out []namedImage
	for i, e := range entries {
		cfg, ok := u.file(e.Config)
		if !ok {
			return nil, errBadRequest("invalid image tarball: manifest.json[%d]: config %s is not in the archive", i, e.Config)
		}
		m := ocispec.Manifest{MediaType: mediaDockerManifest,
			Config: ocispec.Descriptor{MediaType: mediaDockerConfig, Digest: cfg.digest, Size: cfg.size}}
		m.SchemaVersion = 2
		for _, l := range e.Layers {
			lf, ok := u.file(l)
			if !ok {
				return nil, errBadRequest("invalid image tarball: manifest.json[%d]: layer %s is not in the archive", i, l)
			}
			m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: mediaDockerLayer, Digest: lf.digest, Size: lf.size})
		}
		raw, _ := json.Marshal(m)
		mf, err := u.stage(strings.NewReader(string(raw)))
		if err != nil {
			return nil, err
		}
		for _, tag := range e.RepoTags {
			ref, err := api.NormalizeImageRef(tag)
			if err != nil {
				return nil, errBadRequest("invalid image tarball: manifest.json[%d]: %v", i, err)
			}
			out = append(out, namedImage{ref: ref, desc: ocispec.Descriptor{MediaType: mediaDockerManifest, Digest: mf.digest, Size: mf.size}})
		}
	}
	return out, nil
}

// loadImages is POST /apis/images.cloudmgr.dev/v1/images with an image
// tarball as the body (Content-Type application/x-tar): an OCI image
// layout, as `ctr images export` or deploy/imagebuild write, or a docker
// save tarball. The upload is streamed to disk and checked whole (every
// blob's digest and size, every image complete) before anything is
// recorded; then each image reference gets an Image object. Answers 201
// with an ImageList of the loaded images. Administrators only: an image
// reference is shared by every tenant, so loading one is a supply-chain
// decision.
func (s *Server) loadImages(w http.ResponseWriter, r *http.Request, id *Identity) {
	if err := s.loadImagesErr(w, r, id); err != nil {
		writeError(w, s.log, err, "images", "")
	}
}

func (s *Server) loadImagesErr(w http.ResponseWriter, r *http.Request, id *Identity) error {
	if id.Role != RoleAdmin {
		return errForbidden("images is forbidden: User %q cannot create resource \"images\": only administrators load images", id.Name)
	}
	if s.images == nil {
		return newStatus(http.StatusServiceUnavailable, api.StatusReasonServiceUnavailable, "this server keeps no images (no image directory configured)")
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, _ := mime.ParseMediaType(ct)
		if mt != "application/x-tar" && mt != "application/octet-stream" {
			return newStatus(http.StatusUnsupportedMediaType, api.StatusReasonUnsupportedMediaType,
				fmt.Sprintf("unsupported media type %q: images are created by loading a tarball (application/x-tar), e.g. with `cloudctl image load`", ct))
		}
	}
	if r.ContentLength > s.images.maxBytes {
		return &http.MaxBytesError{Limit: s.images.maxBytes}
	}
	body := http.MaxBytesReader(w, r.Body, s.images.maxBytes)
	tmpRoot := filepath.Join(s.images.dir, "tmp")
	if err := os.MkdirAll(tmpRoot, 0o700); err != nil {
		return fmt.Errorf("image store: %w", err)
	}
	dir, err := os.MkdirTemp(tmpRoot, "load-")
	if err != nil {
		return fmt.Errorf("image store: %w", err)
	}
	defer os.RemoveAll(dir)
	u := &upload{dir: dir, files: map[string]stagedFile{}, blobs: map[digest.Digest]int64{}, links: map[string]string{}}
	if err := u.receive(body); err != nil {
		return err
	}
	found, err := u.images()
	if err != nil {
		return err
	}
	loaded, err := s.commitImages(r.Context(), u, found)
	if err != nil {
		return err
	}
	s.log.Info("images loaded", "user", id.Name, "count", len(loaded))
	list := &api.ImageList{TypeMeta: api.TypeMeta{APIVersion: api.APIVersionImages, Kind: "ImageList"}, Items: loaded}
	writeJSON(w, http.StatusCreated, list)
	return nil
}

// commitImages moves the blobs of the checked images into the store and
// records an Image object per reference, replacing one of the same
// reference; blobs no image references any more are then removed.
func (s *Server) commitImages(ctx context.Context, u *upload, found []namedImage) ([]api.Image, error) {
	st := s.images
	st.mu.Lock()
	defer st.mu.Unlock()
	if err := os.MkdirAll(filepath.Join(st.dir, "blobs", "sha256"), 0o700); err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	for _, img := range found {
		for d := range img.walk.blobs {
			if _, ok := st.size(d); ok {
				continue
			}
			if err := syncFile(u.stagedPath(d)); err != nil {
				return nil, err
			}
			if err := os.Rename(u.stagedPath(d), st.blobPath(d)); err != nil {
				return nil, fmt.Errorf("image store: %w", err)
			}
		}
	}
	k, _ := s.scheme.ByKind(api.APIVersionImages, api.KindImage)
	now := api.NewTime(time.Now())
	var out []api.Image
	replaced := false
	for _, f := range found {
		img := k.New().(*api.Image)
		img.Name = api.ImageObjectName(f.ref)
		img.Spec.Ref = f.ref
		img.Status = api.ImageStatus{Digest: f.desc.Digest.String(), MediaType: f.desc.MediaType, Size: f.walk.size(),
			Platforms: f.walk.platforms, LoadedAt: &now}
		r, err := s.putImage(ctx, k, img)
		if err != nil {
			// Blobs moved in for images not recorded go with the sweep.
			return nil, errors.Join(err, s.sweepBlobs(context.WithoutCancel(ctx)))
		}
		replaced = replaced || r
		out = append(out, *img)
	}
	if replaced {
		if err := s.sweepBlobs(ctx); err != nil {
			s.log.Warn("sweep image blobs", "err", err)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Spec.Ref < out[j].Spec.Ref })
	return out, nil
}

// putImage creates img, or replaces the Image of the same reference
// (reporting whether it held other content).
func (s *Server) putImage(ctx context.Context, k *api.KindInfo, img *api.Image) (bool, error) {
	key := storeKey(k, "", img.Name)
	for attempt := 0; ; attempt++ {
		var cur api.Image
		err := s.store.Get(ctx, key, &cur)
		if isNotFound(err) {
			s.prepareCreate(k, img)
			if err := validate(k, img); err != nil {
				return false, err
			}
			err = s.store.Create(ctx, key, img)
			if errors.Is(err, store.ErrAlreadyExists) {
				continue
			}
			return false, err
		}
		if err != nil {
			return false, err
		}
		img.UID, img.CreationTimestamp, img.Generation = cur.UID, cur.CreationTimestamp, cur.Generation+1
		if err := validate(k, img); err != nil {
			return false, err
		}
		rev, _ := api.ParseResourceVersion(cur.ResourceVersion)
		err = s.store.Update(ctx, key, img, rev)
		if errors.Is(err, store.ErrConflict) {
			if err := backoff(ctx, attempt); err != nil {
				return false, err
			}
			continue
		}
		return err == nil && cur.Status.Digest != img.Status.Digest, err
	}
}

func syncFile(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("image store: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("image store: %w", err)
	}
	return nil
}

// deleteImage deletes an Image object through the generic REST path and
// then removes the blobs no image references any more.
func (s *Server) deleteImage(w http.ResponseWriter, r *http.Request, id *Identity) {
	if s.images != nil {
		s.images.mu.Lock()
		defer s.images.mu.Unlock()
	}
	rec := &recorder{ResponseWriter: w}
	s.serveAPI(rec, r, id)
	if rec.code/100 == 2 && s.images != nil {
		if err := s.sweepBlobs(context.WithoutCancel(r.Context())); err != nil {
			s.log.Warn("sweep image blobs", "err", err)
		}
	}
}

// imageRoutes mounts image loading and removal, which the generic REST
// handlers do not do, and the read-only registry. An upload is not cut by
// a deadline: the server sets no read or write timeout, and the body is
// bounded by MaxImageBytes instead.
func (s *Server) imageRoutes(mux *http.ServeMux) {
	const images = "/apis/" + api.GroupImages + "/" + api.VersionImages + "/images"
	mux.Handle("POST "+images, s.authenticated(s.loadImages))
	mux.Handle("DELETE "+images+"/{name}", s.authenticated(s.deleteImage))
	mux.Handle("PUT "+images+"/{name}", s.authenticated(func(w http.ResponseWriter, r *http.Request, _ *Identity) {
		writeError(w, s.log, newStatus(http.StatusMethodNotAllowed, api.StatusReasonMethodNotAllowed,
			"images are immutable: load the image again to replace it"), "images", r.PathValue("name"))
	}))
	mux.HandleFunc("/v2/", s.serveRegistry)
	mux.HandleFunc("/v2", s.serveRegistry)
}
