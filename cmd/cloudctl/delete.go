package main

import (
	"context"
	"fmt"
	"slices"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/spf13/cobra"
)

// deleteOptions is `cloudctl delete`.
type deleteOptions struct {
	root           *rootOptions
	filenames      []string
	gracePeriod    int64
	now            bool
	force          bool
	ignoreNotFound bool
	labelSelector  string
	all            bool
	cascade        string
	policy         api.DeletionPropagation
}

func newDeleteOptions(root *rootOptions) *deleteOptions {
	return &deleteOptions{root: root, gracePeriod: -1, cascade: "background"}
}

func (o *deleteOptions) command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete (-f FILENAME | TYPE NAME... | TYPE/NAME... | TYPE -l SELECTOR | TYPE --all)",
		Short: "Delete resources by file, type and name, or selector",
		Long: `Delete resources named on the command line, found in manifest files, or
selected by labels.

Pods are stopped gracefully: the node agent gets the pod's grace period
(spec.terminationGracePeriodSeconds) to stop its containers before the pod
disappears. --grace-period overrides it, --now is --grace-period=1 and
--force is --grace-period=0, which removes the object at once without
waiting for its containers to stop: they may keep running on the node.

--cascade says what becomes of the objects the deleted one owns (through
their ownerReferences): background (the default) deletes the owner at once
and the garbage collector deletes its dependents after; foreground keeps
the owner, marked for deletion, until its blocking dependents are gone;
orphan keeps the dependents and removes their references to the owner.`,
		Example: `  # Delete a pod
  cloudctl delete pod web

  # Delete what a manifest created
  cloudctl delete -f ./manifests

  # Delete the pods labelled app=web, without waiting for them to stop
  cloudctl delete pods -l app=web --now

  # Delete a VM that may already be gone
  cloudctl delete vm/db-1 --ignore-not-found`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.complete(cmd); err != nil {
				return err
			}
			return o.run(cmd.Context(), args)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.filenames, "filename", "f", nil, "file, directory or - (stdin) holding the manifests of the objects to delete; repeatable")
	f.Int64Var(&o.gracePeriod, "grace-period", -1, "seconds a pod gets to stop; -1 uses the pod's own grace period, 0 deletes at once")
	f.BoolVar(&o.now, "now", false, "ask the objects to stop at once (--grace-period=1)")
	f.BoolVar(&o.force, "force", false, "delete at once without waiting for the containers to stop (--grace-period=0)")
	f.BoolVar(&o.ignoreNotFound, "ignore-not-found", false, "succeed for objects that do not exist")
	f.StringVarP(&o.labelSelector, "selector", "l", "", "delete the objects of the type matching this label selector")
	f.BoolVar(&o.all, "all", false, "delete every object of the type in the namespace")
	f.StringVar(&o.cascade, "cascade", "background", "what becomes of the dependents: background, foreground or orphan")
	return cmd
}

// complete folds --now and --force into the grace period.
func (o *deleteOptions) complete(cmd *cobra.Command) error {
	graceSet := cmd.Flags().Changed("grace-period")
	switch o.cascade {
	case "background", "true":
		o.policy = ""
	case "foreground":
		o.policy = api.DeletePropagationForeground
	case "orphan", "false":
		o.policy = api.DeletePropagationOrphan
	default:
		return usageErrorf("--cascade must be background, foreground or orphan, got %q", o.cascade)
	}
	switch {
	case o.now && o.force:
		return usageErrorf("--now and --force are mutually exclusive")
	case o.now && graceSet:
		return usageErrorf("--now and --grace-period cannot be specified together")
	case o.force && graceSet && o.gracePeriod != 0:
		return usageErrorf("--force deletes at once; it cannot be given with --grace-period=%d", o.gracePeriod)
	case o.gracePeriod < -1:
		return usageErrorf("--grace-period must be -1 or more, got %d", o.gracePeriod)
	case o.now:
		o.gracePeriod = 1
	case o.force:
		o.gracePeriod = 0
	}
	return nil
}

// deleteTarget is one object to delete.
type deleteTarget struct {
	kind      *api.KindInfo
	namespace string
	name      string
}

func (o *deleteOptions) run(ctx context.Context, args []string) error {
	targets, err := o.targets(ctx, args)
	if err != nil {
		return err
	}
	c, err := o.root.client()
	if err != nil {
		return err
	}
	if o.force {
		fmt.Fprintln(o.root.errOut, "Warning: Immediate deletion does not wait for confirmation that the running resource has been terminated. The resource may continue to run on the cluster indefinitely.")
	}
	return o.deleteAll(ctx, c, targets)
}

// deleteAll deletes every target, reporting each failure and going on.
func (o *deleteOptions) deleteAll(ctx context.Context, c *client.Client, targets []deleteTarget) error {
	opts := client.DeleteOptions{PropagationPolicy: o.policy}
	if o.gracePeriod >= 0 {
		g := o.gracePeriod
		opts.GracePeriodSeconds = &g
	}
	failed := false
	for _, t := range targets {
		err := c.Delete(ctx, t.kind, t.namespace, t.name, opts, nil)
		switch {
		case client.IsNotFound(err) && o.ignoreNotFound:
		case err != nil:
			printError(o.root.errOut, err)
			failed = true
		default:
			fmt.Fprintf(o.root.out, "%s %q deleted\n", kindName(t.kind), t.name)
		}
	}
	if failed {
		return errReported
	}
	return nil
}

// targets resolves what to delete: the objects of -f, the named objects,
// or the objects matching -l or --all.
func (o *deleteOptions) targets(ctx context.Context, args []string) ([]deleteTarget, error) {
	if len(o.filenames) > 0 {
		if len(args) > 0 || o.labelSelector != "" || o.all {
			return nil, usageErrorf("when files are given with -f, resource arguments, -l and --all may not be given")
		}
		return o.fileTargets()
	}
	if len(args) == 0 {
		return nil, usageErrorf("you must provide one or more resources by argument or filename")
	}
	reqs, err := o.root.parseResourceArgs(args)
	if err != nil {
		return nil, err
	}
	selecting := o.labelSelector != "" || o.all
	if hasNames(reqs) && selecting {
		return nil, usageErrorf("names cannot be given with -l or --all")
	}
	if !hasNames(reqs) && !selecting {
		return nil, usageErrorf("resource(s) were provided, but no name was specified; use --all to delete every object of the type")
	}
	g := &getOptions{root: o.root}
	ns, err := g.listNamespace(reqs)
	if err != nil {
		return nil, err
	}
	var out []deleteTarget
	for _, r := range reqs {
		rns := ns
		if !r.kind.Namespaced {
			rns = ""
		}
		for _, name := range r.names {
			out = append(out, deleteTarget{kind: r.kind, namespace: rns, name: name})
		}
		if !selecting {
			continue
		}
		c, err := o.root.client()
		if err != nil {
			return nil, err
		}
		objs, _, err := c.List(ctx, r.kind, rns, client.ListOptions{LabelSelector: o.labelSelector})
		if err != nil {
			return nil, err
		}
		for _, obj := range objs {
			m := obj.GetObjectMeta()
			out = append(out, deleteTarget{kind: r.kind, namespace: m.Namespace, name: m.Name})
		}
	}
	if len(out) == 0 {
		g.noResources(reqs, ns)
	}
	return out, nil
}

// fileTargets reads the objects named by the -f manifests, in reverse
// order.
func (o *deleteOptions) fileTargets() ([]deleteTarget, error) {
	sources, err := readSources(o.filenames, o.root.in)
	if err != nil {
		return nil, err
	}
	manifests, errs := decodeManifests(o.root.scheme, sources)
	if len(errs) > 0 {
		for _, err := range errs {
			printError(o.root.errOut, err)
		}
		return nil, errReported
	}
	var ns string
	var explicit bool
	out := make([]deleteTarget, 0, len(manifests))
	for i, m := range manifests {
		if i == 0 {
			if ns, explicit, err = o.root.namespace(); err != nil {
				return nil, err
			}
		}
		if err := setNamespace(m, ns, explicit); err != nil {
			return nil, err
		}
		meta := m.obj.GetObjectMeta()
		out = append(out, deleteTarget{kind: m.kind, namespace: meta.Namespace, name: meta.Name})
	}
	// Manifests list what others depend on first (a namespace, then its
	// pods); deleting in reverse takes the dependents first, so deleting a
	// namespace does not leave its pods to report "not found".
	slices.Reverse(out)
	return out, nil
}
