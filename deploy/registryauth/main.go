// Command registryauth prepares the credentials of the project's
// authenticated test registry: a user and a random password in a
// credentials file ("user:password", mode 0600) and the bcrypt htpasswd
// file docker-registry checks them against. It is idempotent: existing
// credentials are kept, and the htpasswd file is rewritten only when it
// does not match them, so the registry's configuration stays unchanged
// across runs. Nothing secret is printed.
//
//	go run ./deploy/registryauth -dir .run/registry-auth -user cloudmgr
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

func main() {
	dir := flag.String("dir", ".run/registry-auth", "directory of the credentials and htpasswd files")
	user := flag.String("user", "cloudmgr", "user name of new credentials")
	flag.Parse()
	if err := run(*dir, *user); err != nil {
		fmt.Fprintln(os.Stderr, "registryauth:", err)
		os.Exit(1)
	}
}

func run(dir, user string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	credPath, htPath := filepath.Join(dir, "credentials"), filepath.Join(dir, "htpasswd")
	u, p, err := ensureCredentials(credPath, user)
	if err != nil {
		return err
	}
	changed, err := ensureHtpasswd(htPath, u, p)
	if err != nil {
		return err
	}
	state := "unchanged"
	if changed {
		state = "written"
	}
	fmt.Printf("registryauth: credentials %s (user %s), htpasswd %s %s\n", credPath, u, htPath, state)
	return nil
}

// ensureCredentials reads user:password from path, or writes new ones.
func ensureCredentials(path, user string) (string, string, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		u, p, ok := strings.Cut(strings.TrimSpace(string(data)), ":")
		if !ok || u == "" || p == "" {
			return "", "", fmt.Errorf("%s: expected one line user:password", path)
		}
		return u, p, os.Chmod(path, 0o600)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", "", err
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", err
	}
	pass := hex.EncodeToString(b[:])
	if err := writeFile(path, []byte(user+":"+pass+"\n"), 0o600); err != nil {
		return "", "", err
	}
	return user, pass, nil
}

// ensureHtpasswd writes "user:bcrypt-hash" unless path already holds a
// hash of this password for this user.
func ensureHtpasswd(path, user, pass string) (bool, error) {
	if data, err := os.ReadFile(path); err == nil {
		u, hash, ok := strings.Cut(string(bytes.TrimSpace(data)), ":")
		if ok && u == user && bcrypt.CompareHashAndPassword([]byte(hash), []byte(pass)) == nil {
			return false, nil
		}
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.DefaultCost)
	if err != nil {
		return false, err
	}
	return true, writeFile(path, []byte(user+":"+string(hash)+"\n"), 0o600)
}

// writeFile replaces path atomically with data.
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
