// Command cloudlet is the node agent. For now it reports its version; the
// node agent issue gives it the pod sync loop over containerd.
package main

import (
	"fmt"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if len(os.Args) > 1 && os.Args[1] != "version" && os.Args[1] != "--version" {
		fmt.Fprintf(os.Stderr, "cloudlet %s: the node agent is not implemented yet; only 'cloudlet version' works\n", version)
		os.Exit(2)
	}
	fmt.Printf("cloudlet %s\n", version)
}
