package main

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/cloudmgr/cloud/iaas/autoscaler"
)

// autoscalerOptions are the node autoscaler's flags.
type autoscalerOptions struct {
	enabled  bool
	interval time.Duration
	config   autoscaler.Config
}

func addAutoscalerFlags(f *pflag.FlagSet) {
	d := autoscaler.DefaultConfig()
	f.Bool("autoscaler", true, "run the node autoscaler with the IaaS controllers: it grows NodePools when their CPU utilization holds at or above the threshold or pods cannot be placed (pools in priority order), and shrinks idle ones")
	f.Duration("autoscaler-interval", 5*time.Second, "how often the node autoscaler looks at the pools at least; it also looks at once when a pod is marked unschedulable or a utilization window ends")
	f.Float64("autoscaler-scale-up-threshold", d.ScaleUpThreshold, "pool CPU utilization (pods' use over the Ready nodes' allocatable CPU) at or above which the pool grows")
	f.Duration("autoscaler-scale-up-window", d.ScaleUpWindow, "how long the utilization must hold at or above the threshold before the pool grows")
	f.Float64("autoscaler-target-utilization", d.TargetUtilization, "the utilization a scale-up sizes the pool for (between the two thresholds)")
	f.Float64("autoscaler-scale-down-threshold", d.ScaleDownThreshold, "node CPU utilization under which a node may be removed")
	f.Duration("autoscaler-scale-down-window", d.ScaleDownWindow, "how long a node must stay under the scale-down threshold before it is drained and removed")
	f.Duration("autoscaler-scale-down-delay-after-up", d.ScaleDownDelayAfterUp, "no node of a pool is removed this long after the pool grew")
	f.Duration("autoscaler-scale-down-cooldown", d.ScaleDownCooldown, "the least time between two removals from one pool")
	f.Int("autoscaler-max-nodes", 0, "the most machines of all pools together (0: no bound)")
}

// readAutoscalerOptions reads the flags of addAutoscalerFlags.
func readAutoscalerOptions(v *viper.Viper) (autoscalerOptions, error) {
	o := autoscalerOptions{enabled: v.GetBool("autoscaler"), interval: v.GetDuration("autoscaler-interval")}
	c := autoscaler.DefaultConfig()
	c.ScaleUpThreshold = v.GetFloat64("autoscaler-scale-up-threshold")
	c.ScaleUpWindow = v.GetDuration("autoscaler-scale-up-window")
	c.TargetUtilization = v.GetFloat64("autoscaler-target-utilization")
	c.ScaleDownThreshold = v.GetFloat64("autoscaler-scale-down-threshold")
	c.ScaleDownWindow = v.GetDuration("autoscaler-scale-down-window")
	c.ScaleDownDelayAfterUp = v.GetDuration("autoscaler-scale-down-delay-after-up")
	c.ScaleDownCooldown = v.GetDuration("autoscaler-scale-down-cooldown")
	c.MaxNodes = v.GetInt("autoscaler-max-nodes")
	o.config = c
	switch {
	case o.interval <= 0:
		return o, fmt.Errorf("--autoscaler-interval %s: must be positive", o.interval)
	case c.ScaleUpThreshold <= 0 || c.ScaleUpThreshold > 1:
		return o, fmt.Errorf("--autoscaler-scale-up-threshold %v: must be a fraction in (0, 1]", c.ScaleUpThreshold)
	case c.ScaleDownThreshold <= 0 || c.ScaleDownThreshold >= c.ScaleUpThreshold:
		return o, fmt.Errorf("--autoscaler-scale-down-threshold %v: must be above 0 and below the scale-up threshold %v", c.ScaleDownThreshold, c.ScaleUpThreshold)
	case c.TargetUtilization < c.ScaleDownThreshold || c.TargetUtilization > c.ScaleUpThreshold:
		return o, fmt.Errorf("--autoscaler-target-utilization %v: must lie between the scale-down (%v) and scale-up (%v) thresholds", c.TargetUtilization, c.ScaleDownThreshold, c.ScaleUpThreshold)
	case c.ScaleUpWindow < 0 || c.ScaleDownWindow < 0 || c.ScaleDownDelayAfterUp < 0 || c.ScaleDownCooldown < 0:
		return o, fmt.Errorf("the autoscaler's windows, delays and cooldowns must not be negative")
	case c.MaxNodes < 0:
		return o, fmt.Errorf("--autoscaler-max-nodes %d: must not be negative", c.MaxNodes)
	}
	return o, nil
}
