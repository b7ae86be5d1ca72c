package controllers

import (
	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
)

// EnqueueHandler is a cache handler that enqueues on c every object the
// cache adds, changes or deletes: the handler of a controller's own kind.
func EnqueueHandler(c *Controller) client.Handler {
	return client.Handler{
		OnAdd:    c.Enqueue,
		OnUpdate: func(_, o api.Object) { c.Enqueue(o) },
		OnDelete: c.Enqueue,
	}
}

// OwnerHandler is a cache handler for the objects a controller owns (the
// pods of a ReplicaSet, the ReplicaSets of a Deployment): for each change
// it enqueues on c the owner of kind that controls the object, before and
// after the change. With selectorOf set, a change to an orphan enqueues
// every owner in owners (the cache of kind) of the orphan's namespace
// whose selector matches it, which may then adopt it.
func OwnerHandler(c *Controller, owners *client.Cache, kind string, selectorOf func(owner api.Object) *api.LabelSelector) client.Handler {
	if selectorOf != nil {
		owners.AddIndex(client.IndexNamespace, client.NamespaceIndex)
	}
	changed := func(objs ...api.Object) {
		for _, o := range objs {
			if o == nil {
				continue
			}
			m := o.GetObjectMeta()
			if ref := ControllerRef(o); ref != nil {
				if ref.Kind == kind {
					c.Queue.Add(m.Namespace + "/" + ref.Name)
				}
				continue
			}
			if selectorOf == nil {
				continue
			}
			cands, err := owners.ByIndex(client.IndexNamespace, m.Namespace)
			if err != nil {
				cands = owners.List()
			}
			for _, owner := range cands {
				if owner.GetObjectMeta().Namespace == m.Namespace && selectorOf(owner).Matches(m.Labels) {
					c.Enqueue(owner)
				}
			}
		}
	}
	return client.Handler{
		OnAdd:    func(o api.Object) { changed(o) },
		OnUpdate: func(old, o api.Object) { changed(old, o) },
		OnDelete: func(o api.Object) { changed(o) },
	}
}
