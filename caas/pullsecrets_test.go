package caas_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/caas"
	"github.com/cloudmgr/cloud/client"
)

func dockerConfigSecret(name, cfg string) *api.Secret {
	return &api.Secret{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"}, Type: api.SecretTypeDockerConfigJSON,
		StringData: map[string]string{api.DockerConfigJSONKey: cfg}}
}

func waitingOf(p *api.Pod) *api.ContainerStateWaiting {
	if len(p.Status.ContainerStatuses) == 1 {
		return p.Status.ContainerStatuses[0].State.Waiting
	}
	return nil
}

// TestPullSecrets: the pod loop finds the login for the image's registry in
// the pod's imagePullSecrets, in each form a docker config files it under.
func TestPullSecrets(t *testing.T) {
	rt := newFakeRuntime()
	login := caas.RegistryAuth{Username: "ci", Password: "pw-" + strings.Repeat("x", 8)}
	b64 := base64.StdEncoding.EncodeToString([]byte(login.Username + ":" + login.Password))
	images := map[string]string{ // container name → image
		"auth":     "reg.example:5000/app:1",
		"https":    "reg2.example/app:1",
		"v1":       "reg3.example/app:1",
		"userpass": "reg4.example:443/team/app:1",
		"hub":      "team/app:1",
	}
	for _, img := range images {
		rt.logins[img] = login
	}
	// Docker Hub has a login of its own, and sorts first among the keys:
	// a pull given the first entry instead of its host's fails.
	hub := caas.RegistryAuth{Username: "hubuser", Password: "hubpass"}
	rt.logins[images["hub"]] = hub
	env := startPods(t, rt)
	ctx := context.Background()
	cfg := `{"auths":{
		"other.example":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("wrong:login")) + `"},
		"reg.example:5000":{"auth":"` + b64 + `"},
		"https://reg2.example":{"auth":"` + b64 + `"},
		"reg3.example/v1/":{"auth":"` + b64 + `"},
		"https://index.docker.io/v1/":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("hubuser:hubpass")) + `"}}}`
	if _, err := client.For[api.Secret](env.Admin).Create(ctx, dockerConfigSecret("regcred", cfg)); err != nil {
		t.Fatal(err)
	}
	if _, err := client.For[api.Secret](env.Admin).Create(ctx, dockerConfigSecret("second",
		`{"auths":{"reg4.example:443":{"username":"ci","password":"`+login.Password+`"}}}`)); err != nil {
		t.Fatal(err)
	}
	for name, img := range images {
		p := boundPod("pod-"+name, api.RestartPolicyAlways, "app")
		p.Spec.Containers[0].Image = img
		p.Spec.ImagePullSecrets = []api.LocalObjectReference{{Name: "regcred"}, {Name: "second"}}
		if _, err := client.For[api.Pod](env.Admin).Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	for name := range images {
		waitPod(t, env, "pod-"+name, "Running with the login", func(p *api.Pod) bool { return p.Status.Phase == api.PodRunning })
	}
}

// TestPullSecretMissingThenCreated: a pod naming a secret that does not
// exist waits, saying so, and runs once the secret appears.
func TestPullSecretMissingThenCreated(t *testing.T) {
	rt := newFakeRuntime()
	login := caas.RegistryAuth{Username: "ci", Password: "right"}
	rt.logins["reg.example/app:1"] = login
	env := startPods(t, rt)
	ctx := context.Background()
	p := boundPod("private", api.RestartPolicyAlways, "app")
	p.Spec.Containers[0].Image = "reg.example/app:1"
	p.Spec.ImagePullSecrets = []api.LocalObjectReference{{Name: "later"}}
	if _, err := client.For[api.Pod](env.Admin).Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	got := waitPod(t, env, "private", "waiting for its pull secret", func(p *api.Pod) bool { return waitingOf(p) != nil })
	w := waitingOf(got)
	if w.Reason != "ErrImagePull" && w.Reason != "ImagePullBackOff" {
		t.Errorf("reason %q", w.Reason)
	}
	for _, part := range []string{`image pull secret "later" not found in namespace "default"`, "registry unauthorized"} {
		if !strings.Contains(w.Message, part) {
			t.Errorf("message %q lacks %q", w.Message, part)
		}
	}
	if _, err := client.For[api.Secret](env.Admin).Create(ctx, dockerConfigSecret("later", `{"auths":{"reg.example":{"username":"ci","password":"right"}}}`)); err != nil {
		t.Fatal(err)
	}
	waitPod(t, env, "private", "Running once the secret exists", func(p *api.Pod) bool { return p.Status.Phase == api.PodRunning })
}

// TestPullSecretWrongLogin: a refused login is ErrImagePull, then
// ImagePullBackOff, and the message never shows the password.
func TestPullSecretWrongLogin(t *testing.T) {
	rt := newFakeRuntime()
	rt.logins["reg.example/app:1"] = caas.RegistryAuth{Username: "ci", Password: "right"}
	env := startPods(t, rt)
	ctx := context.Background()
	if _, err := client.For[api.Secret](env.Admin).Create(ctx, dockerConfigSecret("bad", `{"auths":{"reg.example":{"username":"ci","password":"wrong-pw"}}}`)); err != nil {
		t.Fatal(err)
	}
	p := boundPod("denied", api.RestartPolicyAlways, "app")
	p.Spec.Containers[0].Image = "reg.example/app:1"
	p.Spec.ImagePullSecrets = []api.LocalObjectReference{{Name: "bad"}}
	if _, err := client.For[api.Pod](env.Admin).Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	waitPod(t, env, "denied", "ErrImagePull", func(p *api.Pod) bool { w := waitingOf(p); return w != nil && w.Reason == "ErrImagePull" })
	got := waitPod(t, env, "denied", "ImagePullBackOff", func(p *api.Pod) bool {
		w := waitingOf(p)
		return w != nil && w.Reason == "ImagePullBackOff"
	})
	if w := waitingOf(got); !strings.Contains(w.Message, "unauthorized") || strings.Contains(w.Message, "wrong-pw") {
		t.Errorf("message %q", w.Message)
	}
	if got.Status.ContainerStatuses[0].RestartCount != 0 || got.Status.Phase != api.PodPending {
		t.Errorf("restarts %d, phase %s", got.Status.ContainerStatuses[0].RestartCount, got.Status.Phase)
	}
}
