package libvirt

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"
	"libvirt.org/go/libvirtxml"
)

// imagePrefix names the shared, content-addressed image volumes.
const imagePrefix = "cloudmgr-image-"

// markerSuffix names the empty volume that says an image's upload ended.
const markerSuffix = ".ok"

// imageVolume returns the path and name of the volume holding file's
// content, uploading it once ("cloudmgr-image-SHA256PREFIX"). An empty
// marker volume NAME.ok says the upload completed: a volume without it
// (an upload cut short) is made again. A failed upload leaves no volume.
// The volume counts as in use until release.
func (p *Provider) imageVolume(l *golibvirt.Libvirt, pool golibvirt.StoragePool, file string) (string, string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", "", fmt.Errorf("image file: %w", err)
	}
	defer f.Close()
	hash := sha256.New()
	size, err := io.Copy(hash, f)
	if err != nil {
		return "", "", fmt.Errorf("image file: %w", err)
	}
	name := imagePrefix + hex.EncodeToString(hash.Sum(nil))[:32]
	marker := name + markerSuffix
	p.imageMu.Lock()
	defer p.imageMu.Unlock()
	vol, err := l.StorageVolLookupByName(pool, name)
	if err == nil {
		if _, merr := l.StorageVolLookupByName(pool, marker); merr == nil {
			path, err := l.StorageVolGetPath(vol)
			if err == nil {
				p.inflight[name]++
			}
			return path, name, err
		} else if !isCode(merr, golibvirt.ErrNoStorageVol) {
			return "", "", fmt.Errorf("volume %s: %w", marker, merr)
		}
		if err := deleteVolume(l, pool, name); err != nil {
			return "", "", err
		}
	} else if !isCode(err, golibvirt.ErrNoStorageVol) {
		return "", "", fmt.Errorf("volume %s: %w", name, err)
	}
	if vol, err = createVolume(l, pool, name, uint64(size)); err != nil {
		return "", "", err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		_ = deleteVolume(l, pool, name)
		return "", "", err
	}
	if err := p.upload(l, vol, f, uint64(size)); err != nil {
		_ = deleteVolume(l, pool, name)
		return "", "", fmt.Errorf("upload %s to volume %s: %w", file, name, err)
	}
	if _, err := createVolume(l, pool, marker, 0); err != nil && !isCode(err, golibvirt.ErrStorageVolExist) {
		_ = deleteVolume(l, pool, name)
		return "", "", err
	}
	p.log.Info("image uploaded", "file", file, "volume", name, "bytes", size)
	path, err := l.StorageVolGetPath(vol)
	if err == nil {
		p.inflight[name]++
	}
	return path, name, err
}

// release ends a Create's use of image volumes.
func (p *Provider) release(names []string) {
	p.imageMu.Lock()
	defer p.imageMu.Unlock()
	for _, n := range names {
		if p.inflight[n]--; p.inflight[n] <= 0 {
			delete(p.inflight, n)
		}
	}
}

// PruneImages deletes, on one hypervisor, the image volumes (kernels and
// initrds uploaded by Create) that no domain refers to and that were
// written more than olderThan ago (so that a Create in another process,
// between its upload and its define, keeps its volume). It returns the
// names deleted.
func (p *Provider) PruneImages(ctx context.Context, hypervisor string, olderThan time.Duration) ([]string, error) {
	h, err := p.hypervisor(hypervisor)
	if err != nil {
		return nil, err
	}
	l, _, err := h.connect()
	if err != nil {
		return nil, err
	}
	defer h.guard(ctx, l)()
	p.imageMu.Lock()
	defer p.imageMu.Unlock()
	used := map[string]bool{}
	doms, _, err := l.ConnectListAllDomains(1, 0)
	if err != nil {
		return nil, h.fail(l, err)
	}
	for _, dom := range doms {
		x, err := l.DomainGetXMLDesc(dom, 0)
		if isCode(err, golibvirt.ErrNoDomain) {
			continue
		}
		if err != nil {
			return nil, h.fail(l, err)
		}
		var d libvirtxml.Domain
		if err := d.Unmarshal(x); err != nil {
			return nil, fmt.Errorf("libvirt: domain %s: %w", dom.Name, err)
		}
		if d.OS != nil {
			used[d.OS.Kernel], used[d.OS.Initrd] = true, true
		}
	}
	pool, err := p.pool(l)
	if err != nil {
		return nil, h.fail(l, err)
	}
	if err := l.StoragePoolRefresh(pool, 0); err != nil {
		return nil, h.fail(l, err)
	}
	vols, _, err := l.StoragePoolListAllVolumes(pool, 1, 0)
	if err != nil {
		return nil, h.fail(l, err)
	}
	var deleted []string
	for _, vol := range vols {
		if err := ctx.Err(); err != nil {
			return deleted, err
		}
		if !strings.HasPrefix(vol.Name, imagePrefix) || strings.HasSuffix(vol.Name, markerSuffix) || p.inflight[vol.Name] > 0 {
			continue
		}
		path, err := l.StorageVolGetPath(vol)
		if err != nil || used[path] {
			continue
		}
		x, err := l.StorageVolGetXMLDesc(vol, 0)
		if err != nil {
			continue
		}
		var v libvirtxml.StorageVolume
		if err := v.Unmarshal(x); err != nil || v.Target == nil || v.Target.Timestamps == nil {
			continue
		}
		if time.Since(unixTime(v.Target.Timestamps.Mtime)) < olderThan {
			continue
		}
		// The marker first: an image without it is never used.
		for _, n := range []string{vol.Name + markerSuffix, vol.Name} {
			if err := deleteVolume(l, pool, n); err != nil {
				return deleted, h.fail(l, err)
			}
		}
		deleted = append(deleted, vol.Name)
	}
	if len(deleted) > 0 {
		p.log.Info("unused images deleted", "hypervisor", hypervisor, "volumes", deleted)
	}
	return deleted, nil
}

// unixTime parses libvirt's "SECONDS.NANOSECONDS".
func unixTime(s string) time.Time {
	sec, frac, _ := strings.Cut(s, ".")
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}
	}
	ns, _ := strconv.ParseInt(frac, 10, 64)
	return time.Unix(n, ns)
}
