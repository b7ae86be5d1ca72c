package api

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/distribution/reference"
)

// The images group records the container images an operator loaded into
// the control plane (`cloudctl image load`), which serves them to nodes as
// a read-only registry: the way to run images in an air-gapped cloud.
const (
	GroupImages      = "images.cloudmgr.dev"
	VersionImages    = "v1"
	APIVersionImages = GroupImages + "/" + VersionImages
	KindImage        = "Image"
)

// Image is one image reference loaded into the control plane. It is
// cluster-scoped and named after its reference by ImageObjectName. Images
// are created only by loading a tarball and never updated in place:
// loading the same reference again replaces the object.
type Image struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       ImageSpec   `json:"spec"`
	Status     ImageStatus `json:"status,omitzero"`
}

// ImageSpec names the image.
type ImageSpec struct {
	// Ref is the normalized image reference, e.g.
	// "airgap.example/app:1.0" or "docker.io/library/busybox:1.36".
	Ref string `json:"ref"`
}

// ImageStatus describes the content the control plane holds for the image.
type ImageStatus struct {
	// Digest is the digest of the manifest or index the reference names.
	Digest string `json:"digest,omitempty"`
	// MediaType is the media type of that manifest or index.
	MediaType string `json:"mediaType,omitempty"`
	// Size is the total size in bytes of the distinct blobs of the image
	// (manifests, configs and layers as stored, usually compressed).
	Size int64 `json:"size,omitempty"`
	// Platforms lists the os/architecture[/variant] the image holds.
	Platforms []string `json:"platforms,omitempty"`
	// LoadedAt is when the image was last loaded.
	LoadedAt *Time `json:"loadedAt,omitempty"`
}

// ImageList is a list of images.
type ImageList struct {
	TypeMeta `json:",inline"`
	Metadata ListMeta `json:"metadata"`
	Items    []Image  `json:"items"`
}

// GetListMeta gives access to the list metadata.
func (l *ImageList) GetListMeta() *ListMeta { return &l.Metadata }

// NormalizeImageRef returns the canonical form of an image reference as
// containerd names images: the registry host is explicit (docker.io for
// short names), "library/" is added to official Docker Hub images and
// ":latest" to references with neither tag nor digest.
func NormalizeImageRef(ref string) (string, error) {
	named, err := reference.ParseNormalizedNamed(strings.TrimSpace(ref))
	if err != nil {
		return "", fmt.Errorf("image reference %q: %w", ref, err)
	}
	return reference.TagNameOnly(named).String(), nil
}

// ImageObjectName is the name of the Image object of a normalized
// reference: a readable DNS-1123 form of the reference (lower case, every
// character other than a letter, digit, '.' or '-' turned into '-', at most
// 48 characters) followed by '-' and the first 10 hex digits of the
// SHA-256 of the reference, so that references that read alike
// ("a/b:1" and "a-b:1") get different names.
// "airgap.example/app:1.0" becomes "airgap.example-app-1.0-<hash>".
func ImageObjectName(ref string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(ref) {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.'
		switch {
		case ok:
			b.WriteRune(c)
			dash = false
		case !dash:
			b.WriteByte('-')
			dash = true
		}
	}
	s := b.String()
	if len(s) > 48 {
		s = s[:48]
	}
	s = strings.Trim(s, "-.")
	sum := sha256.Sum256([]byte(ref))
	h := hex.EncodeToString(sum[:5])
	if s == "" {
		return "image-" + h
	}
	return s + "-" + h
}

// ValidateImage checks an image object: its name must be the one its
// reference gives, so one reference has one object.
func ValidateImage(img *Image) ErrorList {
	errs := ValidateObjectMeta(&img.ObjectMeta, false, false)
	p := fieldPath("spec.ref")
	switch norm, err := NormalizeImageRef(img.Spec.Ref); {
	case img.Spec.Ref == "":
		errs = append(errs, required(p, "an image reference is required"))
	case err != nil:
		errs = append(errs, invalid(p, img.Spec.Ref, err.Error()))
	case norm != img.Spec.Ref:
		errs = append(errs, invalid(p, img.Spec.Ref, "must be normalized: "+norm))
	case img.Name != ImageObjectName(norm):
		errs = append(errs, invalid(fieldPath("metadata.name"), img.Name, "must be "+ImageObjectName(norm)+", derived from spec.ref"))
	}
	return errs
}
