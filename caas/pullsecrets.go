package caas

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
)

// pullAuth finds the login for image's registry in the pod's
// imagePullSecrets, read through the API (a node may read exactly the
// secrets its pods name). It returns nil when no secret has one. missing
// names the secrets that do not exist, for the pod's waiting message: the
// pull is still tried without them, as the kubelet does, so a public image
// runs and a private one fails saying why. Values never reach an error.
func (m *PodManager) pullAuth(ctx context.Context, pod *api.Pod, image string) (auth *RegistryAuth, missing string, err error) {
	if len(pod.Spec.ImagePullSecrets) == 0 {
		return nil, "", nil
	}
	host := registryHost(image)
	var absent []string
	for _, ref := range pod.Spec.ImagePullSecrets {
		s, err := m.secrets.Get(ctx, pod.Namespace, ref.Name)
		if client.IsNotFound(err) {
			absent = append(absent, fmt.Sprintf("%q", ref.Name))
			continue
		}
		if err != nil {
			return nil, "", fmt.Errorf("get image pull secret %q: %w", ref.Name, err)
		}
		if a := authFromSecret(s, host); a != nil {
			return a, "", nil
		}
	}
	if len(absent) > 0 {
		missing = fmt.Sprintf("image pull secret %s not found in namespace %q", strings.Join(absent, ", "), pod.Namespace)
	}
	return nil, missing, nil
}

// registryHost is the registry an image reference pulls from, as Docker
// reads it: the part before the first '/' when it looks like a host (has
// a '.' or a ':', or is localhost), else Docker Hub.
func registryHost(image string) string {
	first, _, ok := strings.Cut(image, "/")
	if !ok || (!strings.ContainsAny(first, ".:") && first != "localhost") {
		return "docker.io"
	}
	return first
}

// authKeyHost reduces a key of a docker config's "auths" to its host:
// "https://host/v1/", "http://host", "host/v1/" and "host" are all "host".
func authKeyHost(key string) string {
	key = strings.TrimPrefix(strings.TrimPrefix(key, "https://"), "http://")
	host, _, _ := strings.Cut(key, "/")
	return strings.ToLower(host)
}

// hostMatches reports whether an "auths" key is for registry host.
func hostMatches(key, host string) bool {
	k, h := authKeyHost(key), strings.ToLower(host)
	if k == h {
		return true
	}
	return isDockerHub(k) && isDockerHub(h)
}

// isDockerHub reports whether host is one of the names a Docker Hub login
// may be filed under.
func isDockerHub(host string) bool {
	switch host {
	case "docker.io", "index.docker.io", "registry-1.docker.io":
		return true
	}
	return false
}

// authFromSecret reads the login for host from a dockerconfigjson secret:
// "auth" (base64 of user:password) when present, else "username" and
// "password". Other secrets and entries without a login give nil.
func authFromSecret(s *api.Secret, host string) *RegistryAuth {
	if s.Type != api.SecretTypeDockerConfigJSON {
		return nil
	}
	var cfg struct {
		Auths map[string]struct {
			Auth     string `json:"auth"`
			Username string `json:"username"`
			Password string `json:"password"`
		} `json:"auths"`
	}
	if json.Unmarshal(s.Data[api.DockerConfigJSONKey], &cfg) != nil {
		return nil
	}
	keys := make([]string, 0, len(cfg.Auths))
	for k := range cfg.Auths {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the same choice every time when several match
	for _, k := range keys {
		if !hostMatches(k, host) {
			continue
		}
		e := cfg.Auths[k]
		if e.Auth != "" {
			if dec, err := base64.StdEncoding.DecodeString(e.Auth); err == nil {
				if u, p, ok := strings.Cut(string(dec), ":"); ok && u != "" {
					return &RegistryAuth{Username: u, Password: p}
				}
			}
		}
		if e.Username != "" {
			return &RegistryAuth{Username: e.Username, Password: e.Password}
		}
	}
	return nil
}
