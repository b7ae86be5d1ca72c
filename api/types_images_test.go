package api

import "testing"

func TestImageObjectName(t *testing.T) {
	for _, tc := range []struct{ in, norm, prefix string }{
		{"airgap.example/app:1.0", "airgap.example/app:1.0", "airgap.example-app-1.0-"},
		{"busybox", "docker.io/library/busybox:latest", "docker.io-library-busybox-latest-"},
		{"127.0.0.1:5055/cloudmgr/busybox:test", "127.0.0.1:5055/cloudmgr/busybox:test", "127.0.0.1-5055-cloudmgr-busybox-test-"},
	} {
		norm, err := NormalizeImageRef(tc.in)
		if err != nil || norm != tc.norm {
			t.Errorf("NormalizeImageRef(%q) = %q, %v; want %q", tc.in, norm, err, tc.norm)
			continue
		}
		name := ImageObjectName(norm)
		if len(name) != len(tc.prefix)+10 || name[:len(tc.prefix)] != tc.prefix {
			t.Errorf("ImageObjectName(%q) = %q, want %q + 10 hex digits", norm, name, tc.prefix)
		}
		img := &Image{ObjectMeta: ObjectMeta{Name: name}, Spec: ImageSpec{Ref: norm}}
		if errs := ValidateImage(img); len(errs) > 0 {
			t.Errorf("ValidateImage(%s): %v", name, errs)
		}
	}
	if ImageObjectName("a/b:1") == ImageObjectName("a-b:1") {
		t.Error("references that read alike share a name")
	}
	if _, err := NormalizeImageRef("Not A Ref"); err == nil {
		t.Error("a bad reference normalized")
	}
	bad := &Image{ObjectMeta: ObjectMeta{Name: "other"}, Spec: ImageSpec{Ref: "airgap.example/app:1.0"}}
	if errs := ValidateImage(bad); len(errs) != 1 || errs[0].Field != "metadata.name" {
		t.Errorf("a name not derived from the ref: %v", errs)
	}
}
