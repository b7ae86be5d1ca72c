package main

import (
	"context"
	"fmt"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/spf13/cobra"
)

// autoscaleOptions is `cloudctl autoscale`: a HorizontalPodAutoscaler for
// a Deployment or ReplicaSet, from flags.
type autoscaleOptions struct {
	root       *rootOptions
	name       string
	minR, maxR int32
	cpuPercent int32
	// minSet and cpuSet tell a flag given as 0 (refused by the server)
	// from one not given (the server's default).
	minSet, cpuSet bool
}

func newAutoscaleOptions(root *rootOptions) *autoscaleOptions {
	return &autoscaleOptions{root: root}
}

func (o *autoscaleOptions) command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "autoscale (TYPE NAME | TYPE/NAME) --max=MAXPODS [--min=MINPODS] [--cpu-percent=CPU] [--name=NAME]",
		Short: "Scale a Deployment or ReplicaSet on CPU with a HorizontalPodAutoscaler",
		Long: `Create a HorizontalPodAutoscaler (autoscaling/v2) for a Deployment or
ReplicaSet, named like it unless --name is given, as 'kubectl autoscale'
does. Every 15 s the autoscaler sets the target's replicas, between
--min and --max, to bring the average CPU use of its ready pods to
--cpu-percent of their CPU requests (the pods must request cpu). It adds
replicas at once and removes them only once the higher recommendations of
the last 5 minutes have passed.

See the autoscalers with 'cloudctl get hpa' and why one did (not) scale
with 'cloudctl describe hpa NAME'.`,
		Example: `  # Keep deployment web between 2 and 10 replicas at 80% of its CPU requests
  cloudctl autoscale deployment web --cpu-percent 80 --min 2 --max 10

  # A ReplicaSet, with the default target (80%) and minimum (1)
  cloudctl autoscale rs/worker --max 5`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usageErrorf("%q takes TYPE/NAME or TYPE NAME", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.minSet, o.cpuSet = cmd.Flags().Changed("min"), cmd.Flags().Changed("cpu-percent")
			return o.run(cmd.Context(), args)
		},
	}
	f := cmd.Flags()
	f.Int32Var(&o.maxR, "max", 0, "the most replicas the autoscaler may set (required)")
	f.Int32Var(&o.minR, "min", 0, "the fewest replicas the autoscaler may set (default 1)")
	f.Int32Var(&o.cpuPercent, "cpu-percent", 0, "the target average CPU utilization, in percent of the requests (default 80)")
	f.StringVar(&o.name, "name", "", "the name of the autoscaler (default: the target's name)")
	return cmd
}

// autoscaler builds the autoscaler the flags describe, for target kind k
// and name.
func (o *autoscaleOptions) autoscaler(k *api.KindInfo, name, ns string) (*api.HorizontalPodAutoscaler, error) {
	if o.maxR < 1 {
		return nil, usageErrorf("--max=MAXPODS is required, and MAXPODS must be >= 1")
	}
	h := &api.HorizontalPodAutoscaler{
		TypeMeta:   api.TypeMeta{APIVersion: api.APIVersionAutoscaling, Kind: api.KindHorizontalPodAutoscaler},
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: ns},
		Spec: api.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: api.CrossVersionObjectReference{APIVersion: k.APIVersion(), Kind: k.Kind, Name: name},
			MaxReplicas:    o.maxR,
		},
	}
	if o.name != "" {
		h.Name = o.name
	}
	if o.minSet {
		m := o.minR
		h.Spec.MinReplicas = &m
	}
	if o.cpuSet {
		p := o.cpuPercent
		h.Spec.Metrics = []api.MetricSpec{{Type: api.ResourceMetricSourceType, Resource: &api.ResourceMetricSource{
			Name: api.ResourceCPU, Target: api.MetricTarget{Type: api.UtilizationMetricType, AverageUtilization: &p}}}}
	}
	return h, nil
}

func (o *autoscaleOptions) run(ctx context.Context, args []string) error {
	k, name, err := o.root.workloadTarget(args, api.KindDeployment, api.KindReplicaSet)
	if err != nil {
		return err
	}
	c, ns, err := o.root.clientAndNamespace()
	if err != nil {
		return err
	}
	h, err := o.autoscaler(k, name, ns)
	if err != nil {
		return err
	}
	// The target must exist: an autoscaler of nothing would only report
	// FailedGetScale.
	if err := c.Get(ctx, k, ns, name, k.New()); err != nil {
		return err
	}
	if _, err := client.For[api.HorizontalPodAutoscaler](c).Create(ctx, h); err != nil {
		return err
	}
	hk, _ := o.root.scheme.ByKind(api.APIVersionAutoscaling, api.KindHorizontalPodAutoscaler)
	fmt.Fprintf(o.root.out, "%s/%s autoscaled\n", kindName(hk), h.Name)
	return nil
}
