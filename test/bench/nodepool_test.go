package bench

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/test"
)

// NodePool scale-up benchmark settings.
const (
	benchPool = "bench"
	// hostFromGuest is the host's loopback as a guest on QEMU's user-mode
	// network reaches it.
	hostFromGuest = "10.0.2.2"
	// scaleTimeout bounds one scale-up or scale-down.
	scaleTimeout = 5 * time.Minute
	// firstPodLabel marks the benchmark's first pod on each new node.
	firstPodLabel = "cloudmgr.io/bench-first-pod"
)

// scaleRun is one scale-up: from the request to every machine Running at
// the provider, every node Ready and a first pod Running on each node;
// per-machine lines for the breakdown.
type scaleRun struct {
	running, ready, pod time.Duration
	detail              []string
}

// iaasEnv is one cloudd with the IaaS layer on the project's libvirtd,
// shared by the sub-benchmarks of BenchmarkNodePoolScaleUp.
type iaasEnv struct {
	x *test.IaaS
	l *golibvirt.Libvirt
	c *client.Client
	// machines is every machine name seen, for the last-resort cleanup.
	machines map[string]bool
}

// BenchmarkNodePoolScaleUp measures node pool scale-ups on the project's
// libvirtd with the real binaries (QEMU as TCG, 1 vCPU and 512 MiB per
// VM): `cloudctl nodepool scale` to N replicas, then the time until every
// machine is Running at the provider (s-to-running), every node is Ready
// (s-to-ready) and a first pod (created as soon as the Node object
// appears, bound to it) is Running on each (s-to-pod); the p50 over the
// b.N scale-ups is reported. The pool is scaled back to 0 between runs
// (untimed) until the domains are gone. Reference defines and starts the
// same kind of domain directly through go-libvirt, with a config drive
// holding a join token made by hand, and measures the same three points:
// the physical floor under the control plane.
func BenchmarkNodePoolScaleUp(b *testing.B) {
	var env *iaasEnv
	get := func(b *testing.B) *iaasEnv {
		if env == nil {
			env = startIaaSEnv(b)
		}
		return env
	}
	b.Cleanup(func() {
		if env != nil {
			env.stop(b)
		}
	})
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("VMs=%d", n), func(b *testing.B) {
			if warmupOnly(b) {
				return
			}
			e := get(b)
			var runs []scaleRun
			for i := 0; i < b.N; i++ {
				r := e.scaleUp(b, n)
				runs = append(runs, r)
				b.Logf("run %d: %d VMs Running %.1fs, Ready %.1fs, first pods Running %.1fs\n%s", i+1, n,
					r.running.Seconds(), r.ready.Seconds(), r.pod.Seconds(), strings.Join(r.detail, "\n"))
				b.StopTimer()
				e.scaleDown(b)
				b.StartTimer()
			}
			reportRuns(b, runs)
		})
	}
	b.Run("Reference", func(b *testing.B) {
		if warmupOnly(b) {
			return
		}
		e := get(b)
		var runs []scaleRun
		for i := 0; i < b.N; i++ {
			r := e.reference(b, i)
			runs = append(runs, r)
			b.Logf("reference run %d: domain started %.1fs, node Ready %.1fs, pod Running %.1fs\n%s", i+1,
				r.running.Seconds(), r.ready.Seconds(), r.pod.Seconds(), strings.Join(r.detail, "\n"))
		}
		reportRuns(b, runs)
	})
}

// warmupOnly tells the first call of a benchmark run with -benchtime Nx,
// N > 1: the testing package calls it with b.N = 1 first and then with
// b.N = N, and each scale-up takes tens of seconds, so the first call
// does nothing.
func warmupOnly(b *testing.B) bool {
	f := flag.Lookup("test.benchtime")
	if f == nil || b.N != 1 {
		return false
	}
	v := f.Value.String()
	return strings.HasSuffix(v, "x") && v != "1x"
}

// reportRuns reports the p50 of each figure.
func reportRuns(b *testing.B, runs []scaleRun) {
	pick := func(f func(scaleRun) time.Duration) float64 {
		var d []time.Duration
		for _, r := range runs {
			d = append(d, f(r))
		}
		return median(d).Seconds()
	}
	b.ReportMetric(pick(func(r scaleRun) time.Duration { return r.running }), "s-to-running")
	b.ReportMetric(pick(func(r scaleRun) time.Duration { return r.ready }), "s-to-ready")
	b.ReportMetric(pick(func(r scaleRun) time.Duration { return r.pod }), "s-to-pod")
}

// median is the middle value (the mean of the two middle ones for an even
// count).
func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// startIaaSEnv starts cloudd on the project's libvirtd and creates the
// empty pool benchPool (up to 3 VMs of 1 vCPU and 512 MiB).
func startIaaSEnv(b *testing.B) *iaasEnv {
	dir, err := os.MkdirTemp("", "bench-nodepool-")
	if err != nil {
		b.Fatal(err)
	}
	x, err := test.StartIaaS(context.Background(), dir, test.IaaSOptions{})
	if err != nil {
		_ = os.RemoveAll(dir)
		b.Fatal(err)
	}
	e := &iaasEnv{x: x, c: adminOf(b, dir), machines: map[string]bool{}}
	if e.l, err = test.DialLibvirt(); err != nil {
		e.stop(b)
		b.Fatal(err)
	}
	if out, err := x.Cloudctl(x.Admin, "nodepool", "create", benchPool, "--provider", "libvirt", "--hypervisor", test.HypervisorName,
		"--replicas", "0", "--max", "3", "--vcpus", "1", "--memory", "512Mi", "--image", "cloudmgr-node"); err != nil {
		e.stop(b)
		b.Fatalf("nodepool create: %v\n%s", err, out)
	}
	return e
}

// stop deletes the pool, kills cloudd by its PID and, as a last resort,
// removes any domain of a machine it saw.
func (e *iaasEnv) stop(b *testing.B) {
	if e.l != nil {
		if out, err := e.x.Cloudctl(e.x.Admin, "nodepool", "delete", benchPool, "--timeout", "3m"); err != nil {
			b.Logf("cleanup: nodepool delete: %v\n%s", err, out)
		}
	}
	_ = e.x.Stop(syscall.SIGKILL)
	if e.l != nil {
		for name := range e.machines {
			if names, _ := test.DomainNames(e.l, name); len(names) > 0 {
				b.Errorf("cleanup: domain %s was left behind; destroying it", name)
				_ = test.RemoveDomain(e.l, name)
			}
		}
		_ = e.l.Disconnect()
	}
	_ = os.RemoveAll(e.x.DataDir)
}

// firstPod is a small long-running pod bound to node.
func firstPod(node string) *api.Pod {
	grace := int64(0)
	return &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: "first-" + node, Namespace: "default", Labels: map[string]string{firstPodLabel: "true"}},
		Spec: api.PodSpec{NodeName: node, TerminationGracePeriodSeconds: &grace, Containers: []api.Container{{
			Name: "main", Image: hostFromGuest + ":5055/cloudmgr/busybox:test",
			Command:   []string{"sh", "-c", "echo up; exec sleep 3600"},
			Resources: api.ResourceRequirements{Limits: api.ResourceList{"cpu": api.MustParseQuantity("50m"), "memory": api.MustParseQuantity("16Mi")}},
		}}},
	}
}

// progress tracks machines (by name) through the three points of a
// scale-up.
type progress struct {
	start                 time.Time
	running, ready, podAt map[string]time.Duration
	podMade               map[string]bool
	ctx                   context.Context
	c                     *client.Client
	nodes                 *client.Resource[api.Node, *api.Node]
	pods                  *client.Resource[api.Pod, *api.Pod]
}

func newProgress(c *client.Client, start time.Time) *progress {
	return &progress{start: start, running: map[string]time.Duration{}, ready: map[string]time.Duration{},
		podAt: map[string]time.Duration{}, podMade: map[string]bool{}, ctx: context.Background(), c: c,
		nodes: client.For[api.Node](c), pods: client.For[api.Pod](c)}
}

// observe reads the node and first pod of each named machine once: it
// creates the first pod as soon as the Node exists and notes the times.
func (p *progress) observe(names []string) error {
	for _, name := range names {
		if _, ok := p.ready[name]; !ok {
			n, err := p.nodes.Get(p.ctx, "", name)
			if err != nil && !client.IsNotFound(err) {
				return err
			}
			if err == nil && !p.podMade[name] {
				if _, err := p.pods.Create(p.ctx, firstPod(name)); err != nil {
					return fmt.Errorf("create the first pod on %s: %w", name, err)
				}
				p.podMade[name] = true
			}
			if err == nil && nodeReady(n) {
				p.ready[name] = time.Since(p.start)
			}
		}
		if _, ok := p.podAt[name]; !ok && p.podMade[name] {
			pod, err := p.pods.Get(p.ctx, "default", "first-"+name)
			if err != nil {
				return err
			}
			if pod.Status.Phase == api.PodRunning {
				p.podAt[name] = time.Since(p.start)
			}
		}
	}
	return nil
}

// result is the run's figures once all n machines reached every point.
func (p *progress) result(n int) (scaleRun, bool) {
	if len(p.running) < n || len(p.ready) < n || len(p.podAt) < n {
		return scaleRun{}, false
	}
	var r scaleRun
	for _, d := range p.running {
		r.running = max(r.running, d)
	}
	for _, d := range p.ready {
		r.ready = max(r.ready, d)
	}
	for _, d := range p.podAt {
		r.pod = max(r.pod, d)
	}
	return r, true
}

func nodeReady(n *api.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == api.NodeReady && c.Status == api.ConditionTrue {
			return true
		}
	}
	return false
}

// poolMachines lists the benchmark pool's Machines (any phase).
func (e *iaasEnv) poolMachines(ctx context.Context) ([]*api.Machine, error) {
	all, _, err := client.For[api.Machine](e.c).List(ctx, "", client.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []*api.Machine
	for _, m := range all {
		if m.Spec.Pool == benchPool {
			out = append(out, m)
			e.machines[m.Name] = true
		}
	}
	return out, nil
}

// scaleUp scales the pool from 0 to n and waits for every point.
func (e *iaasEnv) scaleUp(b *testing.B, n int) scaleRun {
	ctx := context.Background()
	start := time.Now()
	if out, err := e.x.Cloudctl(e.x.Admin, "nodepool", "scale", benchPool, "--replicas", fmt.Sprint(n)); err != nil {
		b.Fatalf("nodepool scale %d: %v\n%s", n, err, out)
	}
	p := newProgress(e.c, start)
	var names []string
	for {
		ms, err := e.poolMachines(ctx)
		if err != nil {
			b.Fatal(err)
		}
		names = names[:0]
		for _, m := range ms {
			names = append(names, m.Name)
			if _, ok := p.running[m.Name]; !ok && m.Status.ProviderID != "" &&
				(m.Status.Phase == api.MachineRunning || m.Status.Phase == api.MachineJoined) {
				p.running[m.Name] = time.Since(start)
			}
		}
		if err := p.observe(names); err != nil {
			b.Fatal(err)
		}
		if r, ok := p.result(n); ok {
			slices.Sort(names)
			for _, name := range names {
				r.detail = append(r.detail, fmt.Sprintf("  %s: Running %.1fs, Ready %.1fs, pod %.1fs; guest (uptime): %s", name,
					p.running[name].Seconds(), p.ready[name].Seconds(), p.podAt[name].Seconds(), e.milestones(name)))
			}
			return r
		}
		if time.Since(start) > scaleTimeout {
			b.Fatalf("scale to %d: not done within %s (running %v, ready %v, pods %v)", n, scaleTimeout, p.running, p.ready, p.podAt)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// scaleDown scales the pool to 0 and waits until its machines, their
// domains, nodes and first pods are gone.
func (e *iaasEnv) scaleDown(b *testing.B) {
	ctx := context.Background()
	var names []string
	for name := range e.machines {
		names = append(names, name)
	}
	if out, err := e.x.Cloudctl(e.x.Admin, "nodepool", "scale", benchPool, "--replicas", "0"); err != nil {
		b.Fatalf("nodepool scale 0: %v\n%s", err, out)
	}
	deadline := time.Now().Add(scaleTimeout)
	for {
		ms, err := e.poolMachines(ctx)
		if err != nil {
			b.Fatal(err)
		}
		doms := 0
		for _, name := range names {
			if _, found, err := test.DomainState(e.l, name); err != nil {
				b.Fatal(err)
			} else if found {
				doms++
			}
		}
		pods, _, err := client.For[api.Pod](e.c).List(ctx, "default", client.ListOptions{LabelSelector: firstPodLabel + "=true"})
		if err != nil {
			b.Fatal(err)
		}
		if len(ms) == 0 && doms == 0 && len(pods) == 0 {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("scale to 0: %d machines, %d domains, %d first pods left after %s", len(ms), doms, len(pods), scaleTimeout)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// milestone is a line "cloudmgr-init: WHAT UPTIMEs" of the guest init.
var milestone = regexp.MustCompile(`cloudmgr-init: (start|network up|containerd up|cloudlet starting)\b.* ([0-9.]+)s\s*$`)

// milestones summarises a machine's console log from the storage pool:
// the guest's uptime at the init's main steps.
func (e *iaasEnv) milestones(machine string) string {
	files, _ := e.x.PoolFiles("cloudmgr-" + machine + "-")
	for _, f := range files {
		if strings.HasSuffix(f, "-console.log") {
			return consoleMilestones(filepath.Join(e.x.PoolDir, f))
		}
	}
	return "(no console log)"
}

// consoleMilestones reads the init's milestones from a console log file.
func consoleMilestones(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	names := map[string]string{"start": "kernel+initramfs", "network up": "network", "containerd up": "containerd", "cloudlet starting": "cloudlet"}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if m := milestone.FindStringSubmatch(strings.TrimRight(l, "\r")); m != nil {
			out = append(out, names[m[1]]+" "+m[2]+"s")
		}
	}
	return strings.Join(out, ", ")
}
