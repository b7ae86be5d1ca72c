package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/spf13/cobra"
)

// applyOptions is `cloudctl apply`.
type applyOptions struct {
	root      *rootOptions
	filenames []string
}

func newApplyOptions(root *rootOptions) *applyOptions { return &applyOptions{root: root} }

func (o *applyOptions) command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "apply -f FILENAME",
		Short: "Create or update resources from manifest files",
		Long: `Create or update resources from YAML or JSON manifests.

Each -f names a file, a directory (its *.yaml, *.yml and *.json files, in
name order) or "-" for standard input. A file may hold several YAML
documents separated by "---", a JSON array or a List. Every document is
strictly decoded and checked before anything is sent: an unknown field or an
invalid value is reported with the file, the document number (from 1) and
the field path, and nothing is applied.

Namespaced objects without a namespace go to the --namespace, else to the
context's namespace, else to "default". An object naming another namespace
than an explicit --namespace is an error.

An object that does not exist is created; one that exists is replaced by
the manifest (keeping what the server owns: its status, uid, finalizers and
the node a pod is bound to) unless nothing changed. Every object is tried;
the command fails if any of them failed.`,
		Example: `  # Apply one manifest
  cloudctl apply -f pod.yaml

  # Apply every manifest of a directory into namespace dev
  cloudctl apply -f ./manifests -n dev

  # Apply from standard input
  cat vm.yaml | cloudctl apply -f -`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd.Context()) },
	}
	cmd.Flags().StringArrayVarP(&o.filenames, "filename", "f", nil, "file, directory or - (stdin) holding the manifests; repeatable")
	return cmd
}

func (o *applyOptions) run(ctx context.Context) error {
	manifests, err := o.load()
	if err != nil {
		return err
	}
	c, err := o.root.client()
	if err != nil {
		return err
	}
	failed := false
	for _, m := range manifests {
		result, err := applyOne(ctx, c, m)
		if err != nil {
			reportFailure(o.root.errOut, "applying", m, err)
			failed = true
			continue
		}
		fmt.Fprintf(o.root.out, "%s %s\n", objectName(m.kind, m.obj), result)
	}
	if failed {
		return errReported
	}
	return nil
}

// load reads, decodes, namespaces and validates every manifest, reporting
// all problems at once.
func (o *applyOptions) load() ([]manifest, error) {
	sources, err := readSources(o.filenames, o.root.in)
	if err != nil {
		return nil, err
	}
	manifests, errs := decodeManifests(o.root.scheme, sources)
	if len(manifests) == 0 && len(errs) == 0 {
		return nil, errors.New("no objects passed to apply")
	}
	if len(manifests) > 0 {
		ns, explicit, err := o.root.namespace()
		if err != nil {
			return nil, err
		}
		for _, m := range manifests {
			if err := setNamespace(m, ns, explicit); err != nil {
				errs = append(errs, err)
				continue
			}
			if err := validateManifest(m); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		for _, err := range errs {
			printError(o.root.errOut, err)
		}
		return nil, errReported
	}
	return manifests, nil
}

// reportFailure prints the failure of one object of a manifest.
func reportFailure(w io.Writer, verb string, m manifest, err error) {
	var st *api.Status
	if errors.As(err, &st) {
		fmt.Fprintf(w, "%s: error when %s %s: %s\n", serverErrorPrefix(st), verb, m.where(), st.Message)
		return
	}
	fmt.Fprintf(w, "error: error when %s %s: %v\n", verb, m.where(), err)
}

// Results of applying one object.
const (
	applyCreated    = "created"
	applyConfigured = "configured"
	applyUnchanged  = "unchanged"
)

// applyOne creates the object of m, or updates it when it changed. A
// conflict (someone else wrote the object since it was read) is retried
// once on a fresh copy.
func applyOne(ctx context.Context, c *client.Client, m manifest) (string, error) {
	meta := m.obj.GetObjectMeta()
	live := m.kind.New()
	err := c.Get(ctx, m.kind, meta.Namespace, meta.Name, live)
	if client.IsNotFound(err) {
		if err := c.Create(ctx, m.obj); err != nil {
			return "", err
		}
		return applyCreated, nil
	}
	if err != nil {
		return "", err
	}
	for attempt := 0; ; attempt++ {
		desired, err := mergeLive(m.kind, m.obj, live)
		if err != nil {
			return "", err
		}
		same, err := unchanged(desired, live)
		if err != nil {
			return "", err
		}
		if same {
			return applyUnchanged, nil
		}
		err = c.Update(ctx, desired)
		if err == nil {
			return applyConfigured, nil
		}
		if !client.IsConflict(err) || attempt > 0 {
			return "", err
		}
		live = m.kind.New()
		if err := c.Get(ctx, m.kind, meta.Namespace, meta.Name, live); err != nil {
			return "", err
		}
	}
}

// mergeLive returns the object to PUT: the manifest, on top of the
// metadata the server owns (uid, resourceVersion for the compare-and-swap,
// creation time, finalizers, owners) and, for a pod, the node it is bound to
// and the priority the server resolved when it was created.
func mergeLive(k *api.KindInfo, want, live api.Object) (api.Object, error) {
	desired, err := deepCopy(k, want)
	if err != nil {
		return nil, err
	}
	dm, lm := desired.GetObjectMeta(), live.GetObjectMeta()
	mine := *dm
	*dm = *lm
	dm.Labels, dm.Annotations = mine.Labels, mine.Annotations
	if len(mine.Finalizers) > 0 {
		dm.Finalizers = mine.Finalizers
	}
	if len(mine.OwnerReferences) > 0 {
		dm.OwnerReferences = mine.OwnerReferences
	}
	if dp, ok := desired.(*api.Pod); ok {
		lp := live.(*api.Pod)
		if dp.Spec.NodeName == "" {
			dp.Spec.NodeName = lp.Spec.NodeName
		}
	}
	if k.PrepareForUpdate != nil {
		k.PrepareForUpdate(desired, live)
	}
	return desired, nil
}

// unchanged reports whether an update to desired would change nothing the
// user manages: labels, annotations and every field but metadata and status.
func unchanged(desired, live api.Object) (bool, error) {
	dm, lm := desired.GetObjectMeta(), live.GetObjectMeta()
	if !equalMaps(dm.Labels, lm.Labels) || !equalMaps(dm.Annotations, lm.Annotations) {
		return false, nil
	}
	d, err := userFields(desired)
	if err != nil {
		return false, err
	}
	l, err := userFields(live)
	if err != nil {
		return false, err
	}
	return reflect.DeepEqual(d, l), nil
}

// userFields is the JSON of obj without its type, metadata and status.
func userFields(obj api.Object) (map[string]any, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode object: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("decode object: %w", err)
	}
	for _, k := range []string{"apiVersion", "kind", "metadata", "status"} {
		delete(m, k)
	}
	return m, nil
}

// equalMaps treats nil and empty maps as equal.
func equalMaps(a, b map[string]string) bool {
	return len(a) == len(b) && maps.Equal(a, b)
}

// deepCopy copies an object through JSON.
func deepCopy(k *api.KindInfo, obj api.Object) (api.Object, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("copy object: %w", err)
	}
	out := k.New()
	if err := json.Unmarshal(data, out); err != nil {
		return nil, fmt.Errorf("copy object: %w", err)
	}
	return out, nil
}
