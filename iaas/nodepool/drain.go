package nodepool

import (
	"context"
	"fmt"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
)

// drain moves one surplus machine towards deletion: mark it, cordon its
// node, evict the node's pods (DaemonSet pods stay: they go with the
// node), and delete the Machine once no other pod is left. It does one
// round and returns; the pool is looked at again while it goes on.
func (c *Controller) drain(ctx context.Context, key string, pool *api.NodePool, m *api.Machine) error {
	if m.Annotations[AnnotationScaleDown] == "" {
		next, err := controllers.Clone(m)
		if err != nil {
			return err
		}
		if next.Annotations == nil {
			next.Annotations = map[string]string{}
		}
		next.Annotations[AnnotationScaleDown] = api.NewTime(c.o.Now()).Format("2006-01-02T15:04:05Z")
		if _, err := client.For[api.Machine](c.client).Update(ctx, next); err != nil {
			return client.IgnoreNotFound(err)
		}
		c.rec.Eventf(pool, api.EventTypeNormal, ReasonScalingDown, "Draining node %s before deleting machine %s", m.Name, m.Name)
	}
	node := c.node(m.Name)
	if node != nil && !node.Spec.Unschedulable {
		next, err := controllers.Clone(node)
		if err != nil {
			return err
		}
		next.Spec.Unschedulable = true
		if _, err := client.For[api.Node](c.client).Update(ctx, next); err != nil && !client.IsNotFound(err) {
			return fmt.Errorf("cordon node %s: %w", node.Name, err)
		}
	}
	left := 0
	for _, p := range controllers.PodsOnNode(c.pods, m.Name) {
		if !mustLeave(p) {
			continue
		}
		left++
		if p.DeletionTimestamp != nil {
			continue
		}
		err := c.client.EvictPod(ctx, p.Namespace, p.Name, nil)
		switch {
		case err == nil || client.IsNotFound(err):
		case client.IsTooManyRequests(err):
			// A disruption budget forbids it now: try again next round.
			c.rec.Eventf(pool, api.EventTypeWarning, ReasonDrainFailed, "Cannot evict pod %s/%s from node %s yet: %v", p.Namespace, p.Name, m.Name, err)
		default:
			if ctx.Err() == nil {
				c.rec.Eventf(pool, api.EventTypeWarning, ReasonDrainFailed, "Evicting pod %s/%s from node %s: %v", p.Namespace, p.Name, m.Name, err)
			}
			return fmt.Errorf("evict pod %s/%s: %w", p.Namespace, p.Name, err)
		}
	}
	if left > 0 {
		return nil
	}
	return c.deleteMachine(ctx, key, pool, m)
}

// mustLeave reports whether a pod must be gone before its node is
// deleted: not finished, and not a DaemonSet's (those go with the node).
func mustLeave(p *api.Pod) bool {
	if p.Status.Phase == api.PodSucceeded || p.Status.Phase == api.PodFailed {
		return false
	}
	ref := controllers.ControllerRef(p)
	return ref == nil || ref.Kind != api.KindDaemonSet
}
