package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers/deployment"
)

// workloadTarget resolves "TYPE/NAME" or "TYPE NAME" to a kind among
// allowed and a name.
func (o *rootOptions) workloadTarget(args []string, allowed ...string) (*api.KindInfo, string, error) {
	var typ, name string
	switch {
	case len(args) == 1 && strings.Contains(args[0], "/"):
		typ, name, _ = strings.Cut(args[0], "/")
	case len(args) == 2:
		typ, name = args[0], args[1]
	default:
		return nil, "", usageErrorf("expected TYPE/NAME or TYPE NAME, got %q", args)
	}
	k, err := o.lookupKind(typ)
	if err != nil {
		return nil, "", err
	}
	for _, a := range allowed {
		if k.Kind == a {
			if name == "" {
				return nil, "", usageErrorf("a resource name is required")
			}
			return k, name, nil
		}
	}
	return nil, "", usageErrorf("%s is not supported here (only %s)", k.Resource, strings.Join(allowed, ", "))
}

// scaleOptions is `cloudctl scale`.
type scaleOptions struct {
	root     *rootOptions
	replicas int32
}

func newScaleOptions(root *rootOptions) *scaleOptions { return &scaleOptions{root: root, replicas: -1} }

func (o *scaleOptions) command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scale (TYPE/NAME | TYPE NAME) --replicas=COUNT",
		Short: "Set the number of replicas of a Deployment or ReplicaSet",
		Example: `  # Run 5 replicas of deployment web
  cloudctl scale deploy/web --replicas 5`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usageErrorf("%q takes TYPE/NAME or TYPE NAME", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd.Context(), args) },
	}
	cmd.Flags().Int32Var(&o.replicas, "replicas", -1, "the new number of replicas (required, >= 0)")
	return cmd
}

func (o *scaleOptions) run(ctx context.Context, args []string) error {
	if o.replicas < 0 {
		return usageErrorf("--replicas=COUNT is required, and COUNT must be >= 0")
	}
	k, name, err := o.root.workloadTarget(args, api.KindDeployment, api.KindReplicaSet)
	if err != nil {
		return err
	}
	c, ns, err := o.root.clientAndNamespace()
	if err != nil {
		return err
	}
	n := o.replicas
	err = updateObject(ctx, c, k, ns, name, func(obj api.Object) error {
		switch v := obj.(type) {
		case *api.Deployment:
			v.Spec.Replicas = &n
		case *api.ReplicaSet:
			v.Spec.Replicas = &n
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(o.root.out, "%s/%s scaled\n", kindName(k), name)
	return nil
}

// clientAndNamespace is the client and the namespace to act in.
func (o *rootOptions) clientAndNamespace() (*client.Client, string, error) {
	c, err := o.client()
	if err != nil {
		return nil, "", err
	}
	ns, _, err := o.namespace()
	return c, ns, err
}

// updateObject reads an object, applies f and writes it back, retrying on
// conflicts.
func updateObject(ctx context.Context, c *client.Client, k *api.KindInfo, ns, name string, f func(api.Object) error) error {
	for {
		obj := k.New()
		if err := c.Get(ctx, k, ns, name, obj); err != nil {
			return err
		}
		if err := f(obj); err != nil {
			return err
		}
		err := c.Update(ctx, obj)
		if err == nil || !client.IsConflict(err) {
			return err
		}
	}
}

// newRolloutCommand is `cloudctl rollout`.
func newRolloutCommand(root *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollout",
		Short: "Manage the rollout of a Deployment: status, history, undo, restart, pause, resume",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var timeout time.Duration
	status := &cobra.Command{
		Use:   "status deploy/NAME",
		Short: "Wait until a rollout finishes; fail if it exceeds its progress deadline",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return rolloutRun(cmd.Context(), root, args, func(ctx context.Context, c *client.Client, ns, name string) error {
				return rolloutStatus(ctx, root, c, ns, name, timeout)
			})
		},
	}
	status.Flags().DurationVar(&timeout, "timeout", 0, "give up after this long (0: wait until done or failed)")
	var revision int64
	history := &cobra.Command{
		Use:   "history deploy/NAME",
		Short: "List the revisions of a Deployment",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return rolloutRun(cmd.Context(), root, args, func(ctx context.Context, c *client.Client, ns, name string) error {
				return rolloutHistory(ctx, root, c, ns, name, revision)
			})
		},
	}
	history.Flags().Int64Var(&revision, "revision", 0, "show the pod template of this revision")
	var toRevision int64
	undo := &cobra.Command{
		Use:   "undo deploy/NAME [--to-revision N]",
		Short: "Roll back to the previous revision, or to --to-revision",
		Long: `Roll back a Deployment as kubectl rollout undo does: its pod template is set
to that of the ReplicaSet of the chosen revision, and the controller rolls
out to it, giving it the next revision number.`,
		Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return rolloutRun(cmd.Context(), root, args, func(ctx context.Context, c *client.Client, ns, name string) error {
				if _, err := deployment.Rollback(ctx, c, ns, name, toRevision); err != nil {
					return err
				}
				fmt.Fprintf(root.out, "deployment.apps/%s rolled back\n", name)
				return nil
			})
		},
	}
	undo.Flags().Int64Var(&toRevision, "to-revision", 0, "the revision to roll back to (0: the previous one)")
	cmd.AddCommand(status, history, undo,
		rolloutUpdate(root, "restart", "Restart every pod of a Deployment by a new rollout", "restarted", func(d *api.Deployment) {
			if d.Spec.Template.Annotations == nil {
				d.Spec.Template.Annotations = map[string]string{}
			}
			d.Spec.Template.Annotations[api.AnnotationRestartedAt] = time.Now().UTC().Format(time.RFC3339Nano)
		}),
		rolloutUpdate(root, "pause", "Pause a Deployment: template changes wait until resumed", "paused",
			func(d *api.Deployment) { d.Spec.Paused = true }),
		rolloutUpdate(root, "resume", "Resume a paused Deployment", "resumed",
			func(d *api.Deployment) { d.Spec.Paused = false }),
	)
	return cmd
}

// rolloutRun resolves the Deployment of args and runs f on it.
func rolloutRun(ctx context.Context, root *rootOptions, args []string, f func(ctx context.Context, c *client.Client, ns, name string) error) error {
	_, name, err := root.workloadTarget(args, api.KindDeployment)
	if err != nil {
		return err
	}
	c, ns, err := root.clientAndNamespace()
	if err != nil {
		return err
	}
	return f(ctx, c, ns, name)
}

// rolloutUpdate is a rollout subcommand that changes the Deployment.
func rolloutUpdate(root *rootOptions, use, short, done string, change func(d *api.Deployment)) *cobra.Command {
	return &cobra.Command{
		Use:   use + " deploy/NAME",
		Short: short,
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return rolloutRun(cmd.Context(), root, args, func(ctx context.Context, c *client.Client, ns, name string) error {
				k := client.For[api.Deployment](c).Kind()
				err := updateObject(ctx, c, k, ns, name, func(obj api.Object) error {
					change(obj.(*api.Deployment))
					return nil
				})
				if err != nil {
					return err
				}
				fmt.Fprintf(root.out, "deployment.apps/%s %s\n", name, done)
				return nil
			})
		},
	}
}

// rolloutStatus polls the Deployment until its rollout completes (nil),
// exceeds its progress deadline (an error), or timeout passes.
func rolloutStatus(ctx context.Context, root *rootOptions, c *client.Client, ns, name string, timeout time.Duration) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	last := ""
	for {
		d, err := client.For[api.Deployment](c).Get(ctx, ns, name)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("timed out waiting for the rollout of deployment %q", name)
			}
			return err
		}
		msg, done, err := rolloutMessage(d)
		if err != nil {
			return err
		}
		if msg != last {
			fmt.Fprintln(root.out, msg)
			last = msg
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out waiting for the rollout of deployment %q", name)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// rolloutMessage says where a rollout stands, as kubectl does.
func rolloutMessage(d *api.Deployment) (msg string, done bool, err error) {
	if d.Generation > d.Status.ObservedGeneration {
		return "Waiting for deployment spec update to be observed...", false, nil
	}
	if p := api.DeploymentConditionByType(&d.Status, api.DeploymentProgressing); p != nil && p.Reason == api.ReasonProgressDeadlineExceeded {
		return "", false, fmt.Errorf("deployment %q exceeded its progress deadline", d.Name)
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	st := d.Status
	switch {
	case d.Spec.Paused:
		return "", false, fmt.Errorf("deployment %q is paused; resume it to finish the rollout", d.Name)
	case st.UpdatedReplicas < want:
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d out of %d new replicas have been updated...", d.Name, st.UpdatedReplicas, want), false, nil
	case st.Replicas > st.UpdatedReplicas:
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d old replicas are pending termination...", d.Name, st.Replicas-st.UpdatedReplicas), false, nil
	case st.AvailableReplicas < st.UpdatedReplicas:
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d of %d updated replicas are available...", d.Name, st.AvailableReplicas, st.UpdatedReplicas), false, nil
	}
	return fmt.Sprintf("deployment %q successfully rolled out", d.Name), true, nil
}

// rolloutHistory prints the revisions of a Deployment, or one revision's
// pod template.
func rolloutHistory(ctx context.Context, root *rootOptions, c *client.Client, ns, name string, revision int64) error {
	d, err := client.For[api.Deployment](c).Get(ctx, ns, name)
	if err != nil {
		return err
	}
	hist, err := deployment.History(ctx, c, d)
	if err != nil {
		return err
	}
	if revision > 0 {
		for _, rs := range hist {
			if deployment.Revision(rs) == revision {
				names, images := containersAndImages(&rs.Spec.Template.Spec)
				fmt.Fprintf(root.out, "deployment.apps/%s with revision #%d\nPod Template:\n  Labels:\t%s\n  Containers:\t%s\n  Images:\t%s\n",
					name, revision, labelsString(rs.Spec.Template.Labels), names, images)
				return nil
			}
		}
		return fmt.Errorf("unable to find the specified revision %d", revision)
	}
	fmt.Fprintf(root.out, "deployment.apps/%s\n", name)
	tw := tabwriter.NewWriter(root.out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "REVISION\tCHANGE-CAUSE")
	for _, rs := range hist {
		fmt.Fprintf(tw, "%d\t%s\n", deployment.Revision(rs), orNone(rs.Annotations[api.AnnotationChangeCause]))
	}
	return tw.Flush()
}
