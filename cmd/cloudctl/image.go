package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
)

// newImageCommand is `cloudctl image`: images kept by the control plane
// for air-gapped clusters.
func newImageCommand(root *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "image",
		Aliases: []string{"images"},
		Short:   "Load container images into the control plane for clusters with no registry",
		Long: `Load container images into the control plane, which keeps them and serves them
to every node (VM nodes included) as a read-only registry: a pod whose image
was loaded runs with no registry outside the cluster.

Nodes ask the control plane first for every image, under the image's own
name, and fall back to the image's registry when it does not hold it. So an
image loaded as airgap.example/app:1.0 runs in a pod with
'image: airgap.example/app:1.0', whether or not airgap.example exists.

Loading and removing images is for administrators: an image name is shared
by every tenant.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newImageLoadOptions(root).command(), newImageListOptions(root).command(), newImageRemoveOptions(root).command())
	return cmd
}

// imageLoadOptions is `cloudctl image load`.
type imageLoadOptions struct {
	root *rootOptions
}

func newImageLoadOptions(root *rootOptions) *imageLoadOptions {
	return &imageLoadOptions{root: root}
}

func (o *imageLoadOptions) command() *cobra.Command {
	return &cobra.Command{
		Use:   "load FILE.tar",
		Short: "Upload an image tarball to the control plane",
		Long: `Upload an image tarball to the control plane and record its images.

FILE.tar is an OCI image layout (index.json and blobs/sha256/..., as written
by 'ctr images export', 'skopeo copy ... oci-archive:' or 'docker save' of
Docker 25 and later) or a classic 'docker save' archive (manifest.json).
Each image must be named: the annotation io.containerd.image.name (or a
full reference in org.opencontainers.image.ref.name) of an OCI layout, the
RepoTags of a docker save archive.

Every blob is checked against its digest and size; a tarball with any fault
is refused whole and nothing is recorded. Loading a name again replaces its
image. Progress goes to standard error; the images loaded, with their
digests, to standard output.`,
		Example: `  # Save an image on a connected machine, load it into an air-gapped cloud
  docker save registry.example/app:1.0 -o app.tar
  cloudctl image load app.tar

  # Then use it as any image, e.g. in a pod manifest:
  #   containers: [{name: app, image: registry.example/app:1.0}]
  cloudctl apply -f app-pod.yaml`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd.Context(), args[0]) },
	}
}

func (o *imageLoadOptions) run(ctx context.Context, file string) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("image load: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("image load: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("image load: %s is not a regular file", file)
	}
	c, err := o.root.client()
	if err != nil {
		return err
	}
	p := newProgress(o.root.errOut, fi.Size(), time.Second)
	list, err := c.LoadImages(ctx, io.TeeReader(f, p), fi.Size())
	p.done()
	if err != nil {
		return err
	}
	t := newTable(o.root.out)
	t.add("REF", "DIGEST", "SIZE", "PLATFORMS")
	for _, img := range list.Items {
		t.add(img.Spec.Ref, img.Status.Digest, humanBytes(img.Status.Size), orNone(strings.Join(img.Status.Platforms, ",")))
	}
	return t.flush()
}

// progress prints "sent X / Y (P%)" to w at most once per period while an
// upload runs, and a last line when it ends.
type progress struct {
	w      io.Writer
	total  int64
	period time.Duration

	mu    sync.Mutex
	sent  int64
	last  time.Time
	start time.Time
	wrote bool
}

func newProgress(w io.Writer, total int64, period time.Duration) *progress {
	now := time.Now()
	return &progress{w: w, total: total, period: period, last: now, start: now}
}

// Write counts bytes going out.
func (p *progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sent += int64(len(b))
	if now := time.Now(); now.Sub(p.last) >= p.period {
		p.last = now
		p.print()
	}
	return len(b), nil
}

func (p *progress) print() {
	pct := 100.0
	if p.total > 0 {
		pct = float64(p.sent) * 100 / float64(p.total)
	}
	fmt.Fprintf(p.w, "sent %s / %s (%.0f%%)\n", humanBytes(p.sent), humanBytes(p.total), pct)
	p.wrote = true
}

// done prints the final count when progress was shown at all.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.wrote {
		p.print()
	}
	fmt.Fprintf(p.w, "uploaded %s in %s\n", humanBytes(p.sent), time.Since(p.start).Round(time.Millisecond))
}

// humanBytes prints a size with a binary unit: 512B, 2.0MiB, 3.5GiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// imageListOptions is `cloudctl image list`.
type imageListOptions struct {
	root *rootOptions
}

func newImageListOptions(root *rootOptions) *imageListOptions {
	return &imageListOptions{root: root}
}

func (o *imageListOptions) command() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the images the control plane holds",
		Example: `  cloudctl image list`,
		Args:    noArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return o.run(cmd.Context()) },
	}
}

func (o *imageListOptions) run(ctx context.Context) error {
	c, err := o.root.client()
	if err != nil {
		return err
	}
	imgs, _, err := client.For[api.Image](c).List(ctx, "", client.ListOptions{})
	if err != nil {
		return err
	}
	sort.Slice(imgs, func(i, j int) bool { return imgs[i].Spec.Ref < imgs[j].Spec.Ref })
	if len(imgs) == 0 {
		fmt.Fprintln(o.root.errOut, "No images loaded.")
		return nil
	}
	now := o.root.now()
	t := newTable(o.root.out)
	t.add("REF", "DIGEST", "SIZE", "AGE")
	for _, img := range imgs {
		loaded := img.CreationTimestamp
		if img.Status.LoadedAt != nil {
			loaded = *img.Status.LoadedAt
		}
		t.add(img.Spec.Ref, shortDigest(img.Status.Digest), humanBytes(img.Status.Size), age(loaded, now))
	}
	return t.flush()
}

// shortDigest is sha256: and the first 12 hex digits, as docker prints IDs.
func shortDigest(d string) string {
	if len(d) > len("sha256:")+12 {
		return d[:len("sha256:")+12]
	}
	return d
}

// imageRemoveOptions is `cloudctl image rm`.
type imageRemoveOptions struct {
	root *rootOptions
}

func newImageRemoveOptions(root *rootOptions) *imageRemoveOptions {
	return &imageRemoveOptions{root: root}
}

func (o *imageRemoveOptions) command() *cobra.Command {
	return &cobra.Command{
		Use:     "rm REF...",
		Aliases: []string{"remove", "delete"},
		Short:   "Remove images from the control plane",
		Long: `Remove images from the control plane. Their content goes too, unless
another image shares it. Nodes keep the copies they already pulled.`,
		Example: `  cloudctl image rm airgap.example/app:1.0`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("image rm needs at least one image reference")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd.Context(), args) },
	}
}

func (o *imageRemoveOptions) run(ctx context.Context, refs []string) error {
	c, err := o.root.client()
	if err != nil {
		return err
	}
	images := client.For[api.Image](c)
	for _, ref := range refs {
		norm, err := api.NormalizeImageRef(ref)
		if err != nil {
			return usageErrorf("%v", err)
		}
		if err := images.Delete(ctx, "", api.ImageObjectName(norm), client.DeleteOptions{}); err != nil {
			if client.IsNotFound(err) {
				return fmt.Errorf("image %s is not loaded", norm)
			}
			return err
		}
		fmt.Fprintf(o.root.out, "image %s removed\n", norm)
	}
	return nil
}

func imageColumns() columnSet {
	return columnSet{
		headers: []string{"NAME", "REF", "DIGEST", "SIZE", "AGE"},
		row: func(obj api.Object, now time.Time) ([]string, []string) {
			img := obj.(*api.Image)
			return []string{img.Name, img.Spec.Ref, shortDigest(img.Status.Digest), humanBytes(img.Status.Size), age(img.CreationTimestamp, now)}, nil
		},
	}
}
