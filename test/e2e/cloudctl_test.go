package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// cloudctl runs the built CLI with config and returns its output and exit code.
func cloudctl(t *testing.T, bin, config, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "cloudctl"), args...)
	cmd.Env = append(os.Environ(), "CLOUDCTL_CONFIG="+config)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// TestCLIAgainstCloudd drives the real cloudd process with the real
// cloudctl binary, as the README tells a user to.
func TestCLIAgainstCloudd(t *testing.T) {
	bin, err := testBinaries()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	startReady(t, bin, dir, addr(t))
	admin := filepath.Join(dir, "admin.yaml")
	examples := filepath.Join(repoRoot(), "examples")

	out, errOut, code := cloudctl(t, bin, admin, "", "apply", "-f", examples)
	if code != 0 || !strings.Contains(out, "namespace/demo created") || !strings.Contains(out, "pod/web created") {
		t.Fatalf("apply: code %d\n%s%s", code, out, errOut)
	}
	out, _, code = cloudctl(t, bin, admin, "", "apply", "-f", examples)
	if code != 0 || !strings.Contains(out, "pod/web unchanged") {
		t.Fatalf("second apply should be unchanged: code %d\n%s", code, out)
	}

	bad := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\n  namespace: demo\nspec:\n  containers:\n  - name: c\n    image: busybox\n    resources:\n      limits:\n        cpu: 25x0m\n"
	_, errOut, code = cloudctl(t, bin, admin, bad, "apply", "-f", "-")
	if code == 0 || !strings.Contains(errOut, "spec.containers[0].resources.limits.cpu") {
		t.Fatalf("bad quantity: code %d, stderr %q", code, errOut)
	}
	if _, _, code := cloudctl(t, bin, admin, "", "get", "pod", "bad", "-n", "demo"); code == 0 {
		t.Fatal("the rejected pod exists")
	}

	out, _, code = cloudctl(t, bin, admin, "", "get", "pods", "-n", "demo")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || !strings.HasPrefix(lines[1], "too-big ") || !strings.HasPrefix(lines[2], "web ") {
		t.Fatalf("get pods: code %d\n%s", code, out)
	}

	tenantCfg := filepath.Join(dir, "team-a.yaml")
	out, errOut, code = cloudctl(t, bin, admin, "", "tenant", "create", "team-a", "--write-config", tenantCfg)
	if code != 0 || strings.Contains(out, "cm_") {
		t.Fatalf("tenant create: code %d (token must not be printed with --write-config)\n%s%s", code, out, errOut)
	}
	_, errOut, code = cloudctl(t, bin, tenantCfg, "", "get", "pods", "-n", "demo")
	if code == 0 || !strings.Contains(errOut, "Forbidden") {
		t.Fatalf("tenant reading another namespace: code %d, stderr %q", code, errOut)
	}
	out, _, code = cloudctl(t, bin, tenantCfg, "", "get", "namespaces")
	if code != 0 || !strings.Contains(out, "team-a") || strings.Contains(out, "demo") {
		t.Fatalf("tenant namespaces: code %d\n%s", code, out)
	}

	out, errOut, code = cloudctl(t, bin, admin, "", "delete", "-f", examples)
	if code != 0 || !strings.Contains(out, `pod "web" deleted`) || !strings.Contains(out, `namespace "demo" deleted`) {
		t.Fatalf("delete -f: code %d\n%s%s", code, out, errOut)
	}
	// The namespace goes once the namespace controller emptied it; until
	// then it is Terminating and refuses new objects, as in Kubernetes.
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, errOut, code := cloudctl(t, bin, admin, "", "get", "namespace", "demo")
		if code != 0 && strings.Contains(errOut, "NotFound") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("namespace demo still there 20s after delete -f")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, _, code := cloudctl(t, bin, admin, "", "apply", "-f", examples); code != 0 {
		t.Fatal("apply after delete -f failed")
	}

	out, _, code = cloudctl(t, bin, admin, "", "delete", "pod", "web", "-n", "demo")
	if code != 0 || !strings.Contains(out, `pod "web" deleted`) {
		t.Fatalf("delete: code %d\n%s", code, out)
	}
	_, errOut, code = cloudctl(t, bin, admin, "", "get", "pod", "web", "-n", "demo")
	if code == 0 || !strings.Contains(errOut, "NotFound") {
		t.Fatalf("get deleted pod: code %d, stderr %q", code, errOut)
	}
}
