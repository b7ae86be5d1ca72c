package vm

import (
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// qemuVM is a QEMU process started by a test.
type qemuVM struct {
	cmd     *exec.Cmd
	done    chan error
	monitor string // the human monitor's unix socket
}

// startQEMU boots the node image (direct kernel boot through qboot, TCG,
// 512 MiB) with the config drive as a read-only virtio disk, a virtio NIC
// on the user-mode network and the serial console in a file. The process
// is killed by its PID when the test ends.
func startQEMU(t *testing.T, qemu, img, iso, console string) *qemuVM {
	t.Helper()
	monitor := filepath.Join(filepath.Dir(console), "monitor.sock")
	cmd := exec.Command(qemu, "-monitor", "unix:"+monitor+",server=on,wait=off",
		"-machine", "pc,accel=tcg", "-bios", "/usr/share/qemu/qboot.rom", "-m", "512", "-smp", "1",
		"-kernel", filepath.Join(img, "vmlinuz"), "-initrd", filepath.Join(img, "initrd.img"),
		"-append", "console=ttyS0 quiet panic=-1",
		"-drive", "file="+iso+",if=virtio,format=raw,readonly=on",
		"-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0",
		"-serial", "file:"+console, "-display", "none", "-no-reboot", "-nodefaults")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start QEMU: %v", err)
	}
	vm := &qemuVM{cmd: cmd, done: make(chan error, 1), monitor: monitor}
	go func() { vm.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-vm.done:
		case <-time.After(10 * time.Second):
			t.Errorf("QEMU (pid %d) did not exit after SIGKILL", cmd.Process.Pid)
		}
	})
	return vm
}

// exited returns QEMU's exit error once it has ended, or false.
func (v *qemuVM) exited() (error, bool) {
	select {
	case err := <-v.done:
		v.done <- err
		return err, true
	default:
		return nil, false
	}
}

// powerdown presses the ACPI power button through QEMU's monitor.
func (v *qemuVM) powerdown() error {
	c, err := net.DialTimeout("unix", v.monitor, 5*time.Second)
	if err != nil {
		return fmt.Errorf("QEMU monitor: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("system_powerdown\n")); err != nil {
		return fmt.Errorf("QEMU monitor: %w", err)
	}
	// Let QEMU read the command before the connection closes.
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	_, _ = io.Copy(io.Discard, c)
	return nil
}

// wait waits up to d for QEMU to exit by itself.
func (v *qemuVM) wait(d time.Duration) (error, bool) {
	select {
	case err := <-v.done:
		v.done <- err
		return err, true
	case <-time.After(d):
		return nil, false
	}
}
