package apiserver_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
)

// TestConcurrentReadModifyWrite: 50 writers increment one counter with
// compare-and-swap updates. Each update succeeds or is a 409 Conflict, and
// no success is lost: the counter ends equal to the number of successes.
func TestConcurrentReadModifyWrite(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	const writers, attempts = 50, 5
	createNamespace(t, env.Admin, "counted")
	nss := client.For[api.Namespace](env.Admin)

	var mu sync.Mutex
	successes, conflicts := 0, 0
	var unexpected []error
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range attempts {
				err := increment(ctx, nss, fmt.Sprintf("writer-%d", w))
				mu.Lock()
				switch {
				case err == nil:
					successes++
				case client.IsConflict(err) && client.Code(err) == http.StatusConflict:
					conflicts++
				default:
					unexpected = append(unexpected, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, err := range unexpected {
		t.Errorf("an update was neither 200 nor 409 Conflict: %v", err)
	}
	if successes+conflicts+len(unexpected) != writers*attempts {
		t.Fatalf("%d answers for %d updates", successes+conflicts+len(unexpected), writers*attempts)
	}
	if successes == 0 {
		t.Fatal("no update succeeded")
	}
	ns, err := nss.Get(ctx, "", "counted")
	if err != nil {
		t.Fatal(err)
	}
	if got := ns.Annotations["counter"]; got != strconv.Itoa(successes) {
		t.Errorf("counter %s after %d successful updates (%d conflicts)", got, successes, conflicts)
	}
	if ns.Generation != 1 {
		t.Errorf("generation %d after metadata-only updates, want 1", ns.Generation)
	}
	t.Logf("%d successes, %d conflicts", successes, conflicts)
}

// increment reads the counter and writes it plus one, conditional on the
// resourceVersion it read.
func increment(ctx context.Context, nss *client.Resource[api.Namespace, *api.Namespace], writer string) error {
	ns, err := nss.Get(ctx, "", "counted")
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(ns.Annotations["counter"])
	if ns.Annotations == nil {
		ns.Annotations = map[string]string{}
	}
	ns.Annotations["counter"] = strconv.Itoa(n + 1)
	ns.Annotations["last-writer"] = writer
	_, err = nss.Update(ctx, ns)
	return err
}

// TestConcurrentUnconditionalUpdates: updates without a resourceVersion
// never conflict; the server retries them on the newest state.
func TestConcurrentUnconditionalUpdates(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	createPod(t, env.Admin, "default", "web")
	pods := client.For[api.Pod](env.Admin)
	const writers, attempts = 20, 5
	errs := make(chan error, writers*attempts)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range attempts {
				p := newPod("default", "web")
				p.Labels = map[string]string{"writer": strconv.Itoa(w), "n": strconv.Itoa(i)}
				_, err := pods.Update(ctx, p)
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("unconditional update: %v", err)
		}
	}
}

// TestConcurrentCreates: of many creates of one name exactly one wins; the
// others are 409 AlreadyExists.
func TestConcurrentCreates(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	const n = 20
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := client.For[api.Pod](env.Admin).Create(ctx, newPod("default", "web"))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	created := 0
	for err := range errs {
		var st *api.Status
		switch {
		case err == nil:
			created++
		case errors.As(err, &st) && st.Code == http.StatusConflict && st.Reason == api.StatusReasonAlreadyExists:
		default:
			t.Errorf("create: %v, want 201 or 409 AlreadyExists", err)
		}
	}
	if created != 1 {
		t.Errorf("%d creates succeeded, want 1", created)
	}
}
