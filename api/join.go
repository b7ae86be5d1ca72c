package api

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
