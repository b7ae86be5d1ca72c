package deployment

import (
	"context"
	"fmt"
	"sort"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
)

// History returns the ReplicaSets a Deployment controls, oldest revision
// first: its rollout history.
func History(ctx context.Context, c *client.Client, d *api.Deployment) ([]*api.ReplicaSet, error) {
	rss, _, err := client.For[api.ReplicaSet](c).List(ctx, d.Namespace, client.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list replicasets: %w", err)
	}
	var out []*api.ReplicaSet
	for _, rs := range rss {
		if ref := controllers.ControllerRef(rs); ref != nil && ref.UID == d.UID {
			out = append(out, rs)
		}
	}
	sort.Slice(out, func(i, j int) bool { return Revision(out[i]) < Revision(out[j]) })
	return out, nil
}

// Rollback sets a Deployment's pod template back to that of the
// ReplicaSet of revision toRevision (0: the revision before the current
// one), as kubectl rollout undo does: on the client, by an update of
// spec.template (and of the change-cause annotation), after which the controller gives that ReplicaSet the
// next revision and rolls out to it. It returns the revision rolled back
// to.
func Rollback(ctx context.Context, c *client.Client, namespace, name string, toRevision int64) (int64, error) {
	deps := client.For[api.Deployment](c)
	for {
		d, err := deps.Get(ctx, namespace, name)
		if err != nil {
			return 0, err
		}
		hist, err := History(ctx, c, d)
		if err != nil {
			return 0, err
		}
		var target *api.ReplicaSet
		if toRevision == 0 {
			cur, _ := split(d, hist)
			for i := len(hist) - 1; i >= 0; i-- {
				if hist[i] != cur && (cur == nil || Revision(hist[i]) < Revision(cur)) {
					target = hist[i]
					break
				}
			}
			if target == nil {
				return 0, fmt.Errorf("deployment %s has no previous revision to roll back to", name)
			}
		} else {
			for _, rs := range hist {
				if Revision(rs) == toRevision {
					target = rs
				}
			}
			if target == nil {
				return 0, fmt.Errorf("deployment %s has no revision %d", name, toRevision)
			}
		}
		d.Spec.Template = stripHash(&target.Spec.Template)
		// The change cause goes back too, as kubectl's undo patch does.
		if cause, ok := target.Annotations[api.AnnotationChangeCause]; ok {
			if d.Annotations == nil {
				d.Annotations = map[string]string{}
			}
			d.Annotations[api.AnnotationChangeCause] = cause
		} else {
			delete(d.Annotations, api.AnnotationChangeCause)
		}
		if _, err := deps.Update(ctx, d); err == nil {
			return Revision(target), nil
		} else if !client.IsConflict(err) {
			return 0, fmt.Errorf("roll back deployment %s: %w", name, err)
		}
	}
}
