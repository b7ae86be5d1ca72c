package client

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"sigs.k8s.io/yaml"

	"github.com/cloudmgr/cloud/api"
)

// ConfigFile is a cloudctl configuration, like a kubeconfig: named contexts
// (server, CA, token, default namespace) and the current one.
type ConfigFile struct {
	APIVersion     string         `json:"apiVersion"`
	Kind           string         `json:"kind"`
	CurrentContext string         `json:"current-context"`
	Contexts       []NamedContext `json:"contexts"`
}

// NamedContext is one entry of ConfigFile.Contexts.
type NamedContext struct {
	Name    string  `json:"name"`
	Context Context `json:"context"`
}

// Context is everything needed to talk to one API server as one identity.
type Context struct {
	Server string `json:"server"`
	// CertificateAuthorityData is the base64 of the PEM CA bundle.
	CertificateAuthorityData string `json:"certificate-authority-data,omitempty"`
	Token                    string `json:"token,omitempty"`
	Namespace                string `json:"namespace,omitempty"`
}

// NewConfigFile returns a file holding one context, made current.
func NewConfigFile(name string, ctx Context) *ConfigFile {
	f := &ConfigFile{APIVersion: "v1", Kind: "Config"}
	f.SetContext(name, ctx)
	f.CurrentContext = name
	return f
}

// LoadConfigFile reads a config file strictly: unknown fields are errors.
func LoadConfigFile(path string) (*ConfigFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	var f ConfigFile
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return &f, nil
}

// Save writes the file with mode 0600 (it holds tokens), atomically.
func (f *ConfigFile) Save(path string) error {
	data, err := yaml.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("config dir: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}

// Context returns the named context, or the current one for "".
func (f *ConfigFile) Context(name string) (*Context, error) {
	if name == "" {
		name = f.CurrentContext
	}
	if name == "" {
		return nil, errors.New("no current context is set; use 'cloudctl config use-context NAME'")
	}
	for i := range f.Contexts {
		if f.Contexts[i].Name == name {
			return &f.Contexts[i].Context, nil
		}
	}
	return nil, fmt.Errorf("context %q not found in config", name)
}

// SetContext adds or replaces a context, keeping contexts sorted by name.
func (f *ConfigFile) SetContext(name string, ctx Context) {
	for i := range f.Contexts {
		if f.Contexts[i].Name == name {
			f.Contexts[i].Context = ctx
			return
		}
	}
	f.Contexts = append(f.Contexts, NamedContext{Name: name, Context: ctx})
	sort.Slice(f.Contexts, func(i, j int) bool { return f.Contexts[i].Name < f.Contexts[j].Name })
}

// Redacted returns a copy safe to print: tokens read REDACTED and CA data
// DATA+OMITTED, as kubectl config view does.
func (f *ConfigFile) Redacted() *ConfigFile {
	c := *f
	c.Contexts = append([]NamedContext(nil), f.Contexts...)
	for i := range c.Contexts {
		if c.Contexts[i].Context.Token != "" {
			c.Contexts[i].Context.Token = "REDACTED"
		}
		if c.Contexts[i].Context.CertificateAuthorityData != "" {
			c.Contexts[i].Context.CertificateAuthorityData = "DATA+OMITTED"
		}
	}
	return &c
}

// ClientConfig turns a context into a client configuration.
func (c *Context) ClientConfig() (Config, error) {
	cfg := Config{Server: c.Server, Token: c.Token}
	if c.CertificateAuthorityData != "" {
		ca, err := base64.StdEncoding.DecodeString(c.CertificateAuthorityData)
		if err != nil {
			return Config{}, fmt.Errorf("certificate-authority-data: %w", err)
		}
		cfg.CAData = ca
	}
	return cfg, nil
}

// NewFromConfigFile is a client for the current context of the config
// file at path (as cloudctl reads it), for objects of scheme.
func NewFromConfigFile(path string, scheme *api.Scheme) (*Client, error) {
	f, err := LoadConfigFile(path)
	if err != nil {
		return nil, err
	}
	cur, err := f.Context("")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cfg, err := cur.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return New(cfg, scheme)
}
