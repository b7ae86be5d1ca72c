package test

import (
	"fmt"
	"os/exec"
	"path/filepath"
)

// NodeImage builds the node VM's boot files with deploy/nodeimage (cached:
// rebuilt only when an input changed) beside the test binaries of this
// checkout, and returns the directory holding vmlinuz and initrd.img.
func NodeImage() (string, error) {
	bin, err := Binaries("cloudd")
	if err != nil {
		return "", err
	}
	out := filepath.Join(bin, "nodeimage")
	cmd := exec.Command("go", "run", "./deploy/nodeimage", "-o", out)
	cmd.Dir = RepoRoot()
	b, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build the node image: %v\n%s", err, b)
	}
	return out, nil
}
