// Command cloudmgr-logger writes one container's stdout and stderr to its
// log file. containerd's shim starts it for each container that cloudlet
// runs (a binary:// log URI), passing the container's output pipes as file
// descriptors 3 and 4; it is not meant to be run by hand.
//
//	cloudmgr-logger --file /var/lib/cloudlet/logs/NS_POD_UID/CONTAINER/0.log
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/cloudmgr/cloud/caas/logdriver"
)

func main() {
	if len(os.Args) != 3 || os.Args[1] != "--file" {
		fmt.Fprintln(os.Stderr, "usage: cloudmgr-logger --file FILE (started by containerd's shim for each container)")
		os.Exit(2)
	}
	// The driver ends when the container's pipes do; a signal meant for
	// the agent's process group must not cut its output short.
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	if err := logdriver.Run(os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
