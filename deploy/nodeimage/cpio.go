package main

import (
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
)

// File types of an image entry (the S_IFMT bits of a cpio mode).
const (
	modeDir     = 0o040000
	modeFile    = 0o100000
	modeSymlink = 0o120000
	modeCharDev = 0o020000
)

// entry is one file, directory, symlink or device node of the image.
type entry struct {
	Path     string // absolute, cleaned
	Mode     uint32 // type and permission bits
	Data     []byte // file content, or the symlink target
	DevMajor uint32
	DevMinor uint32
}

// tree is the image's file system, keyed by path.
type tree map[string]*entry

func (t tree) dir(p string, perm uint32) {
	p = path.Clean("/" + p)
	if p == "/" {
		return
	}
	t.dir(path.Dir(p), 0o755)
	if _, ok := t[p]; !ok {
		t[p] = &entry{Path: p, Mode: modeDir | perm}
	}
}

func (t tree) file(p string, perm uint32, data []byte) {
	p = path.Clean("/" + p)
	t.dir(path.Dir(p), 0o755)
	t[p] = &entry{Path: p, Mode: modeFile | perm, Data: data}
}

func (t tree) symlink(p, target string) {
	p = path.Clean("/" + p)
	t.dir(path.Dir(p), 0o755)
	t[p] = &entry{Path: p, Mode: modeSymlink | 0o777, Data: []byte(target)}
}

func (t tree) chardev(p string, perm, major, minor uint32) {
	p = path.Clean("/" + p)
	t.dir(path.Dir(p), 0o755)
	t[p] = &entry{Path: p, Mode: modeCharDev | perm, DevMajor: major, DevMinor: minor}
}

// sorted returns the entries in path order: every directory comes before
// what it holds.
func (t tree) sorted() []*entry {
	out := make([]*entry, 0, len(t))
	for _, e := range t {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// writeCPIO writes the entries as a "newc" (SVR4, no CRC) cpio archive, the
// format the kernel unpacks an initramfs from. Everything that could vary
// between builds is fixed: owner root, mtime 0, inode numbers in order.
func writeCPIO(w io.Writer, entries []*entry) error {
	ino := uint32(1)
	for _, e := range entries {
		name := strings.TrimPrefix(e.Path, "/")
		nlink := uint32(1)
		if e.Mode&0o170000 == modeDir {
			nlink = 2
		}
		var size uint32
		if t := e.Mode & 0o170000; t == modeFile || t == modeSymlink {
			size = uint32(len(e.Data))
		}
		if err := cpioRecord(w, ino, e.Mode, nlink, size, e.DevMajor, e.DevMinor, name); err != nil {
			return err
		}
		if size > 0 {
			if _, err := w.Write(e.Data); err != nil {
				return err
			}
			if err := pad(w, int(size)); err != nil {
				return err
			}
		}
		ino++
	}
	return cpioRecord(w, 0, 0, 1, 0, 0, 0, "TRAILER!!!")
}

func cpioRecord(w io.Writer, ino, mode, nlink, size, rmaj, rmin uint32, name string) error {
	// magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor,
	// devminor, rdevmajor, rdevminor, namesize, check
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		ino, mode, 0, 0, nlink, 0, size, 0, 0, rmaj, rmin, len(name)+1, 0)
	if _, err := io.WriteString(w, hdr+name+"\x00"); err != nil {
		return err
	}
	return pad(w, len(hdr)+len(name)+1)
}

// pad writes zeros up to the next multiple of 4 after n bytes.
func pad(w io.Writer, n int) error {
	if r := n % 4; r != 0 {
		_, err := w.Write(make([]byte, 4-r))
		return err
	}
	return nil
}
