package api

import (
	"fmt"
	"log/slog"
)

// The bodies of the node-join endpoints: POST /api/v1/jointokens (admins
// mint a join token) and POST /api/v1/join (a node exchanges it for its
// credential). They are not stored objects.

// JoinTokenRequest is the body of POST /api/v1/jointokens (admins only).
type JoinTokenRequest struct {
	// TTLSeconds is how long the token may be used (default 3600, at most
	// 7 days).
	TTLSeconds int64 `json:"ttlSeconds,omitempty"`
	// NodeName, when set, is the only name the token may join as.
	NodeName string `json:"nodeName,omitempty"`
	// Machine, when set, binds the token to that Machine object: the node
	// joins under the Machine's name (NodeName must be empty or equal),
	// and the API server sets the Node's provider ID, hypervisor, pool
	// and provider labels, labels and taints from the Machine, so that the
	// node cannot claim another host.
	Machine string `json:"machine,omitempty"`
}

// JoinToken is a new join token, shown once.
type JoinToken struct {
	Token               string `json:"token"`
	ExpirationTimestamp Time   `json:"expirationTimestamp"`
	NodeName            string `json:"nodeName,omitempty"`
	Machine             string `json:"machine,omitempty"`
}

// JoinRequest is the body of POST /api/v1/join, sent with a join token.
type JoinRequest struct {
	NodeName string `json:"nodeName"`
}

// NodeCredential is what a join token is exchanged for: a token that acts
// as that node only.
type NodeCredential struct {
	Token    string `json:"token"`
	NodeName string `json:"nodeName"`
	// Machine is the Machine the node is bound to, when its join token
	// was: the node's provider ID and hypervisor label then come from the
	// machine record, not from the agent.
	Machine string `json:"machine,omitempty"`
}

// NodeBootstrapFile is the name of the file on a node VM's config drive
// (ISO 9660 labelled "cidata") that holds its NodeBootstrap as JSON; the
// guest's init passes its path to `cloudlet --bootstrap`.
const NodeBootstrapFile = "bootstrap.json"

// NodeBootstrap is what a node VM needs to join the cluster on first boot:
// the IaaS layer writes it to the VM's config drive and the node agent
// reads it (flags given explicitly win over it). It holds a join token:
// never log it or put it on a command line (String and LogValue redact it).
type NodeBootstrap struct {
	// Server is the API server's URL as the guest reaches it, e.g.
	// https://10.0.2.2:6443.
	Server string `json:"server"`
	// CA is the API server's CA certificate (PEM).
	CA string `json:"ca,omitempty"`
	// JoinToken is the single-use join token (secret).
	JoinToken string `json:"joinToken"`
	// NodeName is the name the node joins as.
	NodeName string `json:"nodeName"`
	// Labels are extra labels of the Node.
	Labels map[string]string `json:"labels,omitempty"`
	// Hypervisor is the physical host the VM runs on (the
	// topology.cloud/hypervisor label).
	Hypervisor string `json:"hypervisor,omitempty"`
	// Zone is the failure zone (the topology.kubernetes.io/zone label).
	Zone string `json:"zone,omitempty"`
	// InsecureRegistries are registry hosts (host:port) the node pulls
	// from over plain HTTP.
	InsecureRegistries []string `json:"insecureRegistries,omitempty"`
}

// String describes b without the join token.
func (b NodeBootstrap) String() string {
	tok := ""
	if b.JoinToken != "" {
		tok = "[redacted]"
	}
	return fmt.Sprintf("NodeBootstrap{server=%s node=%s hypervisor=%s zone=%s labels=%v joinToken=%s ca=%dB}",
		b.Server, b.NodeName, b.Hypervisor, b.Zone, b.Labels, tok, len(b.CA))
}

// LogValue is b for log/slog, without the join token.
func (b NodeBootstrap) LogValue() slog.Value {
	return slog.StringValue(b.String())
}
