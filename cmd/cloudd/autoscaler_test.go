package main

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// autoscalerFlags parses args as cloudd's autoscaler flags.
func autoscalerFlags(t *testing.T, args ...string) (autoscalerOptions, error) {
	t.Helper()
	f := pflag.NewFlagSet("cloudd", pflag.ContinueOnError)
	addAutoscalerFlags(f)
	if err := f.Parse(args); err != nil {
		t.Fatal(err)
	}
	v := viper.New()
	if err := v.BindPFlags(f); err != nil {
		t.Fatal(err)
	}
	return readAutoscalerOptions(v)
}

func TestAutoscalerFlags(t *testing.T) {
	o, err := autoscalerFlags(t)
	if err != nil || !o.enabled || o.interval != 5*time.Second || o.config.ScaleUpThreshold != 0.8 || o.config.ScaleDownWindow != 10*time.Minute {
		t.Fatalf("defaults: %+v, %v", o, err)
	}
	o, err = autoscalerFlags(t, "--autoscaler-scale-up-window", "5s", "--autoscaler-scale-down-window", "20s", "--autoscaler-max-nodes", "50")
	if err != nil || o.config.ScaleUpWindow != 5*time.Second || o.config.ScaleDownWindow != 20*time.Second || o.config.MaxNodes != 50 {
		t.Fatalf("set: %+v, %v", o, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--autoscaler-scale-up-threshold", "1.5"}, "--autoscaler-scale-up-threshold 1.5"},
		{[]string{"--autoscaler-scale-down-threshold", "0.9"}, "below the scale-up threshold"},
		{[]string{"--autoscaler-target-utilization", "0.95"}, "--autoscaler-target-utilization 0.95"},
		{[]string{"--autoscaler-interval", "0s"}, "--autoscaler-interval"},
		{[]string{"--autoscaler-scale-down-window", "-1m"}, "must not be negative"},
		{[]string{"--autoscaler-max-nodes", "-2"}, "--autoscaler-max-nodes -2"},
	} {
		if _, err := autoscalerFlags(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}
