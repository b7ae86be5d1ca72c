package apiserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/store"
)

// globalDefaultKey holds the name of the priority class marked
// globalDefault. It is written and removed in the same transaction as the
// class, and a class becomes the default only while it is absent, so that
// two concurrent writers can never both make a default.
const globalDefaultKey = "/registry/markers/priorityclasses/globaldefault"

const priorityClassPrefix = "/registry/priorityclasses/"

// priorityClasses keeps the priority classes in memory, fed by a watch, so
// that admitting a pod costs no store read when it names no class (the
// global default comes from memory) or a class already seen. A class the
// cache does not know yet is read from the store, so one created a moment
// ago is found; only the global default may lag the store by the watch's
// delay, as it does in Kubernetes' admission.
type priorityClasses struct {
	store *store.Store
	log   *slog.Logger

	startOnce sync.Once
	mu        sync.RWMutex
	synced    bool
	byName    map[string]*api.PriorityClass
}

func newPriorityClasses(st *store.Store, log *slog.Logger) *priorityClasses {
	return &priorityClasses{store: st, log: log}
}

// start begins following the store, once; later calls do nothing.
func (c *priorityClasses) start(ctx context.Context) {
	c.startOnce.Do(func() { go c.run(ctx) })
}

// run lists the classes and follows their changes until ctx ends,
// listing again whenever the watch breaks.
func (c *priorityClasses) run(ctx context.Context) {
	newObj := func() api.Object { return &api.PriorityClass{} }
	for ctx.Err() == nil {
		items, rev, err := c.store.List(ctx, priorityClassPrefix, newObj, nil)
		var ch <-chan store.Event
		if err == nil {
			ch, err = c.store.Watch(ctx, priorityClassPrefix, rev, newObj, nil)
		}
		if err != nil {
			c.log.Warn("priority classes: list and watch", "err", err)
			if !sleepCtx(ctx, time.Second) {
				return
			}
			continue
		}
		byName := make(map[string]*api.PriorityClass, len(items))
		for _, o := range items {
			pc := o.(*api.PriorityClass)
			byName[pc.Name] = pc
		}
		c.mu.Lock()
		c.byName, c.synced = byName, true
		c.mu.Unlock()
		for ev := range ch {
			if ev.Type == store.Error {
				c.log.Warn("priority classes: watch ended", "err", ev.Err)
				break
			}
			pc := ev.Object.(*api.PriorityClass)
			c.mu.Lock()
			if ev.Type == store.Deleted {
				delete(c.byName, pc.Name)
			} else {
				c.byName[pc.Name] = pc
			}
			c.mu.Unlock()
		}
		c.mu.Lock()
		c.synced = false
		c.mu.Unlock()
	}
}

// get finds a class by name: from memory, else from the store. It returns
// nil when there is no such class.
func (c *priorityClasses) get(ctx context.Context, name string) (*api.PriorityClass, error) {
	c.mu.RLock()
	pc := c.byName[name]
	c.mu.RUnlock()
	if pc != nil {
		return pc, nil
	}
	pc = &api.PriorityClass{}
	err := c.store.Get(ctx, priorityClassPrefix+name, pc)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return pc, nil
}

// globalDefault returns the class marked globalDefault, or nil. While the
// cache is not synced (at start, or after its watch broke) it asks the
// store.
func (c *priorityClasses) globalDefault(ctx context.Context) (*api.PriorityClass, error) {
	c.mu.RLock()
	synced := c.synced
	var def *api.PriorityClass
	if synced {
		for _, pc := range c.byName {
			if pc.GlobalDefault && (def == nil || pc.Name < def.Name) {
				def = pc
			}
		}
	}
	c.mu.RUnlock()
	if synced {
		return def, nil
	}
	name, ok, err := c.store.Raw(ctx, globalDefaultKey)
	if err != nil || !ok {
		return nil, err
	}
	return c.get(ctx, name)
}

// admitPodPriority resolves a new pod's priority from its class, or from
// the global default class: see api.ResolvePodPriority. An unknown class
// is a 422 at spec.priorityClassName.
func (s *Server) admitPodPriority(ctx context.Context, id *Identity, k *api.KindInfo, p *api.Pod) error {
	s.priorities.start(s.bgCtx)
	var class *api.PriorityClass
	var err error
	switch {
	case p.Spec.PriorityClassName != "":
		class, err = s.priorities.get(ctx, p.Spec.PriorityClassName)
		if err == nil && class == nil {
			return invalid(k, p.Name, api.ErrorList{{Type: api.ErrorTypeNotFound, Field: "spec.priorityClassName",
				Value: p.Spec.PriorityClassName, Detail: "no PriorityClass with this name exists"}})
		}
	case p.Spec.Priority == nil || id.Role != RoleAdmin:
		class, err = s.priorities.globalDefault(ctx)
	}
	if err != nil {
		return fmt.Errorf("priority class: %w", err)
	}
	if errs := api.ResolvePodPriority(p, class, id.Role == RoleAdmin); len(errs) > 0 {
		return invalid(k, p.Name, errs)
	}
	return nil
}

// globalDefaultWrites are the conditions and side writes that keep
// globalDefaultKey in step with a priority class being created (old nil)
// or updated: a class may become the default only while none is.
func globalDefaultWrites(newPC, oldPC *api.PriorityClass) ([]store.Cond, []store.Side) {
	wasDefault := oldPC != nil && oldPC.GlobalDefault
	switch {
	case newPC.GlobalDefault && !wasDefault:
		return []store.Cond{{Key: globalDefaultKey, Absent: true}}, []store.Side{{Key: globalDefaultKey, Value: newPC.Name}}
	case !newPC.GlobalDefault && wasDefault:
		return nil, []store.Side{{Key: globalDefaultKey, Remove: true}}
	}
	return nil, nil
}

// errDefaultTaken answers a class that would be a second default, naming
// the one that is.
func (s *Server) errDefaultTaken(ctx context.Context, k *api.KindInfo, name string) error {
	current, _, err := s.store.Raw(ctx, globalDefaultKey)
	if err != nil {
		return err
	}
	return invalid(k, name, api.ErrorList{{Type: api.ErrorTypeForbidden, Field: "globalDefault",
		Detail: fmt.Sprintf("PriorityClass %q is already marked as default; only one default can exist", current)}})
}

// writeConds returns the extra conditions and side writes of storing obj
// (old is the stored state, nil on create).
func writeConds(newObj, oldObj api.Object) ([]store.Cond, []store.Side) {
	if pc, ok := newObj.(*api.PriorityClass); ok {
		old, _ := oldObj.(*api.PriorityClass)
		return globalDefaultWrites(pc, old)
	}
	return nil, nil
}

// isDefaultTaken tells a failed globalDefault condition.
func isDefaultTaken(err error) bool {
	var ce *store.CondError
	return errors.As(err, &ce) && ce.Key == globalDefaultKey
}

// deletePrefixes are the keys deleted together with an object: the
// default marker with the default class.
func (s *Server) deletePrefixes(ctx context.Context, k *api.KindInfo, name string) ([]string, error) {
	if k.Kind != api.KindPriorityClass {
		return nil, nil
	}
	// Under the compare-and-swap of the delete, the marker names this class
	// exactly when the class read at that revision is the default.
	current, ok, err := s.store.Raw(ctx, globalDefaultKey)
	if err != nil || !ok || current != name {
		return nil, err
	}
	return []string{globalDefaultKey}, nil
}

// bootstrapPriorityClasses creates the system classes.
func (s *Server) bootstrapPriorityClasses(ctx context.Context) error {
	k, _ := s.scheme.ByKind(api.APIVersionScheduling, api.KindPriorityClass)
	for _, pc := range api.SystemPriorityClasses() {
		s.prepareCreate(k, pc)
		err := s.store.Create(ctx, storeKey(k, "", pc.Name), pc)
		if err != nil && !errors.Is(err, store.ErrAlreadyExists) {
			return fmt.Errorf("create priority class %s: %w", pc.Name, err)
		}
	}
	return nil
}
