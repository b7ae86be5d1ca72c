package iaas_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cloudmgr/cloud/api"
)

// The IaaS example manifests decode strictly and validate.
func TestExampleManifests(t *testing.T) {
	files, _ := filepath.Glob("../examples/iaas/*.yaml")
	if len(files) == 0 {
		t.Fatal("no example manifests in examples/iaas")
	}
	s := api.NewScheme()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := api.SplitYAMLDocuments(data)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range docs {
			obj, k, err := s.Decode(d)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			k.Default(obj)
			if errs := k.Validate(obj); len(errs) > 0 {
				t.Fatalf("%s: %v", f, errs)
			}
		}
	}
}
