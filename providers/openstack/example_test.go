package openstack_test

import (
	"fmt"

	"github.com/cloudmgr/cloud/providers/openstack"
)

// The bootstrap files travel as a #cloud-config document that cloud-init
// writes to /var/lib/cloudmgr, readable by root only.
func ExampleUserData() {
	ud, err := openstack.UserData(map[string][]byte{"bootstrap.json": []byte(`{"server":"https://10.0.0.1:6443"}`)})
	if err != nil {
		panic(err)
	}
	fmt.Print(string(ud))
	// Output:
	// #cloud-config
	// write_files:
	// - path: "/var/lib/cloudmgr/bootstrap.json"
	//   encoding: b64
	//   permissions: '0600'
	//   owner: root:root
	//   content: eyJzZXJ2ZXIiOiJodHRwczovLzEwLjAuMC4xOjY0NDMifQ==
}
