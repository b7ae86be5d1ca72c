package api

import (
	"strings"
	"testing"
)

func TestDefaultSecretMergesStringData(t *testing.T) {
	s := &Secret{
		Data:       map[string][]byte{"a": []byte("old"), "b": []byte("kept")},
		StringData: map[string]string{"a": "new", "c": "plain"},
	}
	DefaultSecret(s)
	if s.Type != SecretTypeOpaque {
		t.Errorf("type %q, want Opaque", s.Type)
	}
	if s.StringData != nil {
		t.Errorf("stringData kept: %v", s.StringData)
	}
	want := map[string]string{"a": "new", "b": "kept", "c": "plain"}
	if len(s.Data) != len(want) {
		t.Fatalf("data has %d keys, want %d", len(s.Data), len(want))
	}
	for k, v := range want {
		if string(s.Data[k]) != v {
			t.Errorf("data[%s] = %q, want %q", k, s.Data[k], v)
		}
	}
}

func TestValidateSecret(t *testing.T) {
	const password = "s3cr3t-value"
	meta := ObjectMeta{Name: "creds", Namespace: "shop"}
	dockercfg := func(v string) *Secret {
		return &Secret{ObjectMeta: meta, Type: SecretTypeDockerConfigJSON, Data: map[string][]byte{DockerConfigJSONKey: []byte(v)}}
	}
	cases := []struct {
		name   string
		secret *Secret
		want   []string // substrings of the errors, in order; none: valid
	}{
		{"opaque", &Secret{ObjectMeta: meta, Type: SecretTypeOpaque, Data: map[string][]byte{"pass.word_1-x": []byte(password)}}, nil},
		{"dockerconfigjson", dockercfg(`{"auths":{"127.0.0.1:5056":{"auth":"dTpw"}}}`), nil},
		{"bad key", &Secret{ObjectMeta: meta, Data: map[string][]byte{"a/b": []byte(password)}}, []string{"data[a/b]: Invalid value \"a/b\": a valid config key"}},
		{"dot key", &Secret{ObjectMeta: meta, Data: map[string][]byte{"..x": []byte(password)}}, []string{"data[..x]: Invalid value \"..x\": must not start with '..'"}},
		{"unknown type", &Secret{ObjectMeta: meta, Type: "example.com/x"}, []string{"type: Unsupported value \"example.com/x\""}},
		{"no dockerconfigjson key", &Secret{ObjectMeta: meta, Type: SecretTypeDockerConfigJSON, Data: map[string][]byte{"x": []byte(password)}},
			[]string{"data[.dockerconfigjson]: Required value"}},
		{"not json", dockercfg("{" + password), []string{"data[.dockerconfigjson]: Invalid value: must be a JSON object"}},
		{"no auths", dockercfg(`{"credsStore":"` + password + `"}`), []string{"data[.dockerconfigjson].auths: Required value"}},
		{"too big", &Secret{ObjectMeta: meta, Data: map[string][]byte{"k": make([]byte, MaxSecretSize)}}, []string{"data: Too long"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs := ValidateSecret(c.secret)
			if len(errs) != len(c.want) {
				t.Fatalf("errors %q, want %d", errorStrings(errs), len(c.want))
			}
			for i, w := range c.want {
				if got := errs[i].Error(); !strings.Contains(got, w) {
					t.Errorf("error %q does not contain %q", got, w)
				}
				if strings.Contains(errs[i].Error(), password) {
					t.Errorf("error %q shows the secret value", errs[i].Error())
				}
			}
		})
	}
}

func TestValidateSecretUpdate(t *testing.T) {
	yes := true
	old := &Secret{ObjectMeta: ObjectMeta{Name: "s", Namespace: "ns"}, Type: SecretTypeOpaque, Immutable: &yes, Data: map[string][]byte{"k": []byte("v")}}
	changed := *old
	changed.Data = map[string][]byte{"k": []byte("w")}
	changed.Immutable = nil
	errs := ValidateSecretUpdate(&changed, old)
	got := strings.Join(errorStrings(errs), "; ")
	for _, w := range []string{"immutable: Forbidden", "data: Forbidden"} {
		if !strings.Contains(got, w) {
			t.Errorf("errors %q lack %q", got, w)
		}
	}
	retyped := *old
	retyped.Immutable, retyped.Type = nil, SecretTypeDockerConfigJSON
	old.Immutable = nil
	if errs := ValidateSecretUpdate(&retyped, old); len(errs) != 1 || !strings.Contains(errs[0].Error(), "type: Invalid value") {
		t.Errorf("type change: %q", errorStrings(errs))
	}
}

func TestDecodeSecretBadBase64(t *testing.T) {
	_, _, err := NewScheme().Decode([]byte("apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: ns}\ndata:\n  password: 'not*base64'\n"))
	if err == nil || !strings.Contains(err.Error(), "data[password]: Invalid value: must be base64 text") {
		t.Fatalf("err %v, want a base64 error at data[password]", err)
	}
	if strings.Contains(err.Error(), "not*base64") {
		t.Errorf("error %q shows the value", err)
	}
}

func TestValidatePodImagePullSecrets(t *testing.T) {
	p := validPod()
	p.Spec.ImagePullSecrets = []LocalObjectReference{{Name: "regcred"}, {Name: ""}, {Name: "Bad_Name"}}
	errs := ValidatePod(p)
	got := strings.Join(errorStrings(errs), "; ")
	if len(errs) != 2 || !strings.Contains(got, "spec.imagePullSecrets[1].name: Required value") ||
		!strings.Contains(got, `spec.imagePullSecrets[2].name: Invalid value "Bad_Name"`) {
		t.Errorf("errors %q", got)
	}
}
