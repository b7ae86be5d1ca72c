package containerd_test

import (
	"context"
	"fmt"
	"time"

	"github.com/cloudmgr/cloud/caas"
	"github.com/cloudmgr/cloud/caas/containerd"
)

// A node agent runs one container of a pod: pull, sandbox, start.
func ExampleNew() {
	rt, err := containerd.New(containerd.Config{
		Socket:              "/run/containerd/containerd.sock",
		Snapshotter:         "overlayfs",
		StateDir:            "/var/lib/cloudlet",
		PlainHTTPRegistries: []string{"127.0.0.1:5055"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rt.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ref := "127.0.0.1:5055/cloudmgr/busybox:test"
	if _, err := rt.EnsureImage(ctx, ref, false, nil); err != nil {
		fmt.Println(err)
		return
	}
	sb, err := rt.CreateSandbox(ctx, "6f1c0a52-pod")
	if err != nil {
		fmt.Println(err)
		return
	}
	id, err := rt.StartContainer(ctx, caas.ContainerSpec{
		PodUID: sb.PodUID, PodNamespace: "default", PodName: "web", Name: "httpd",
		Image: ref, Command: []string{"httpd", "-f", "-p", "8080"},
		NetNSPath: sb.NetNSPath, MemoryLimit: 64 << 20,
		LogPath: "/var/log/pods/web/httpd/0.log",
	})
	fmt.Println(id, err)
}
