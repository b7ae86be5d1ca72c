package api

// PodTemplateSpec is the pod a workload controller creates: its metadata
// (labels and annotations) and spec.
//
// The apps branch (ReplicaSet, Deployment) defines the same type in
// types_apps.go; when both are merged, keep one of the two.
type PodTemplateSpec struct {
	ObjectMeta `json:"metadata"`
	Spec       PodSpec `json:"spec"`
}
