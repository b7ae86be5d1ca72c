package api

// The coordination group holds leases: small objects renewed often, so that
// liveness costs little (a node renews its lease every few seconds instead
// of rewriting its whole status).
const (
	GroupCoordination      = "coordination.cloudmgr.dev"
	VersionCoordination    = "v1"
	APIVersionCoordination = GroupCoordination + "/" + VersionCoordination
	KindLease              = "Lease"

	// NamespaceNodeLease holds one Lease per node, named after the node.
	NamespaceNodeLease = "cloud-node-lease"
)

// Lease is a named lease held by one holder and renewed before it runs out.
type Lease struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       LeaseSpec `json:"spec"`
}

// LeaseSpec says who holds the lease and until when.
type LeaseSpec struct {
	HolderIdentity       string `json:"holderIdentity,omitempty"`
	LeaseDurationSeconds int32  `json:"leaseDurationSeconds,omitempty"`
	AcquireTime          *Time  `json:"acquireTime,omitempty"`
	RenewTime            *Time  `json:"renewTime,omitempty"`
	LeaseTransitions     int32  `json:"leaseTransitions,omitempty"`
}

// LeaseList is a list of leases.
type LeaseList struct {
	TypeMeta `json:",inline"`
	Metadata ListMeta `json:"metadata"`
	Items    []Lease  `json:"items"`
}

// GetListMeta gives access to the list metadata.
func (l *LeaseList) GetListMeta() *ListMeta { return &l.Metadata }

// ValidateLease checks a lease.
func ValidateLease(l *Lease) ErrorList {
	errs := ValidateObjectMeta(&l.ObjectMeta, true, false)
	if l.Spec.LeaseDurationSeconds < 0 {
		errs = append(errs, invalid(fieldPath("spec.leaseDurationSeconds"), l.Spec.LeaseDurationSeconds, "must be greater than or equal to 0"))
	}
	return errs
}
