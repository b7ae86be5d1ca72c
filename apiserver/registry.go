package apiserver

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cloudmgr/cloud/api"
)

// The control plane serves the images loaded into it as a read-only OCI
// distribution registry under /v2/, so nodes (VMs included) pull them with
// no registry outside the cluster:
//
//	GET|HEAD /v2/
//	GET|HEAD /v2/<name>/manifests/<tag or digest>[?ns=<registry host>]
//	GET|HEAD /v2/<name>/blobs/<digest>[?ns=<registry host>]
//
// The image reference is <ns>/<name>:<tag>, as a containerd mirror asks
// for it (airgap.example/app:1.0 is /v2/app/manifests/1.0?ns=airgap.example);
// without ns, <name> is the whole repository (/v2/airgap.example/app/...).
// Only references recorded as Image objects are served, and only blobs
// reachable from an image of the repository asked for. Callers
// authenticate with a node or admin token, as a bearer token or as the
// password of basic authentication.

// registryError answers in the distribution spec's error format.
func registryError(w http.ResponseWriter, code int, errCode, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": errCode, "message": msg}}})
}

// serveRegistry is the /v2/ handler.
func (s *Server) serveRegistry(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		registryError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "this registry is read-only; load images with `cloudctl image load`")
		return
	}
	if user, pass, ok := r.BasicAuth(); ok {
		_ = user // any user name: the password is the token
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+pass)
	}
	id, err := s.auth.authenticate(r.Context(), r)
	if err != nil {
		st := toStatus(err, "", "")
		if st.Code != http.StatusUnauthorized {
			registryError(w, int(st.Code), "UNAVAILABLE", st.Message)
			return
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="cloudmgr"`)
		registryError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required: a node or admin token")
		return
	}
	if id.Role != RoleNode && id.Role != RoleAdmin {
		registryError(w, http.StatusForbidden, "DENIED", "only nodes and administrators may pull from the control plane")
		return
	}
	if s.images == nil {
		registryError(w, http.StatusNotFound, "NAME_UNKNOWN", "this server keeps no images")
		return
	}
	rest := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/v2"), "/")
	if rest == "" {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{}"))
		return
	}
	name, ref, kind := "", "", ""
	for _, k := range []string{"manifests", "blobs"} {
		if i := strings.LastIndex(rest, "/"+k+"/"); i > 0 {
			name, ref, kind = rest[:i], rest[i+len(k)+2:], k
			break
		}
	}
	if kind == "" || ref == "" || strings.Contains(ref, "/") {
		registryError(w, http.StatusNotFound, "NAME_UNKNOWN", "no such path: "+r.URL.Path)
		return
	}
	repo := name
	if ns := r.URL.Query().Get("ns"); ns != "" {
		repo = ns + "/" + name
	}
	norm, err := api.NormalizeImageRef(repo)
	if err != nil {
		registryError(w, http.StatusNotFound, "NAME_INVALID", err.Error())
		return
	}
	repo = repositoryOf(norm)
	if kind == "manifests" {
		s.serveManifest(w, r, repo, ref)
		return
	}
	d, err := digest.Parse(ref)
	if err != nil {
		registryError(w, http.StatusNotFound, "DIGEST_INVALID", err.Error())
		return
	}
	desc, ok, err := s.reachable(r, repo, d)
	if err != nil {
		registryError(w, http.StatusServiceUnavailable, "UNAVAILABLE", err.Error())
		return
	}
	if !ok {
		registryError(w, http.StatusNotFound, "BLOB_UNKNOWN", "blob unknown to repository "+repo)
		return
	}
	s.serveBlob(w, r, desc, "application/octet-stream")
}

// serveManifest answers for a tag from the Image object of the reference,
// and for a digest from the images of the repository.
func (s *Server) serveManifest(w http.ResponseWriter, r *http.Request, repo, ref string) {
	if d, err := digest.Parse(ref); err == nil {
		desc, ok, err := s.reachable(r, repo, d)
		switch {
		case err != nil:
			registryError(w, http.StatusServiceUnavailable, "UNAVAILABLE", err.Error())
		case !ok || !isManifestType(desc.MediaType):
			registryError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", "manifest unknown: "+repo+"@"+ref)
		default:
			s.serveBlob(w, r, desc, desc.MediaType)
		}
		return
	}
	full := repo + ":" + ref
	var img api.Image
	k, _ := s.scheme.ByKind(api.APIVersionImages, api.KindImage)
	err := s.store.Get(r.Context(), storeKey(k, "", api.ImageObjectName(full)), &img)
	switch {
	case isNotFound(err) || (err == nil && img.Spec.Ref != full):
		registryError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", "manifest unknown: "+full+" was not loaded into the control plane")
		return
	case err != nil:
		registryError(w, http.StatusServiceUnavailable, "UNAVAILABLE", err.Error())
		return
	}
	desc, err := topDescriptor(&img)
	if err != nil {
		registryError(w, http.StatusInternalServerError, "UNKNOWN", err.Error())
		return
	}
	s.serveBlob(w, r, desc, desc.MediaType)
}

// reachable finds d among the blobs of the images of repo.
func (s *Server) reachable(r *http.Request, repo string, d digest.Digest) (ocispec.Descriptor, bool, error) {
	imgs, err := s.listImages(r.Context())
	if err != nil {
		return ocispec.Descriptor{}, false, err
	}
	for _, img := range imgs {
		if repositoryOf(img.Spec.Ref) != repo {
			continue
		}
		top, err := topDescriptor(img)
		if err != nil {
			continue
		}
		n, ok := s.images.size(top.Digest)
		if !ok {
			continue
		}
		top.Size = n
		w, err := walk(s.images, top)
		if err != nil {
			s.log.Warn("image damaged in the store", "ref", img.Spec.Ref, "err", err)
			continue
		}
		if desc, ok := w.blobs[d]; ok {
			return desc, true, nil
		}
	}
	return ocispec.Descriptor{}, false, nil
}

// serveBlob sends a stored blob with the registry's headers.
func (s *Server) serveBlob(w http.ResponseWriter, r *http.Request, desc ocispec.Descriptor, contentType string) {
	f, err := os.Open(s.images.blobPath(desc.Digest))
	if err != nil {
		registryError(w, http.StatusNotFound, "BLOB_UNKNOWN", "blob missing from the store: "+desc.Digest.String())
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		registryError(w, http.StatusInternalServerError, "UNKNOWN", err.Error())
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Docker-Content-Digest", desc.Digest.String())
	w.Header().Set("Etag", `"`+desc.Digest.String()+`"`)
	http.ServeContent(w, r, "", fi.ModTime(), f)
}
