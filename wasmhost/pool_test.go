package wasmhost

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/portico-gw/portico/plugins"
)

// TestPoolWaiters: with every slot held, get waits for a put (and gets that instance),
// or gives up with errPoolBusy at the call timeout.
func TestPoolWaiters(t *testing.T) {
	h, _ := newHost(t, Options{Defaults: Limits{TimeoutMS: 300, Instances: 1}})
	hk := build(t, h, fixture(t, "header.wasm"), "")
	p := hk.pool
	held, err := p.get()
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *instance, 1)
	go func() {
		in, err := p.get()
		if err != nil {
			t.Error(err)
		}
		got <- in
	}()
	select {
	case in := <-got:
		t.Fatalf("get returned %p while the only slot was held", in)
	case <-time.After(50 * time.Millisecond):
	}
	p.put(held)
	if in := <-got; in != held {
		t.Errorf("the waiter got %p, want the instance put back (%p)", in, held)
	} else {
		p.put(in)
	}

	held, _ = p.get()
	start := time.Now()
	if _, err := p.get(); !errors.Is(err, errPoolBusy) {
		t.Errorf("get with the slot held = %v, want errPoolBusy", err)
	}
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Errorf("gave up after %v, before the 300ms timeout", el)
	}
	p.put(held)
}

// TestPoolUnderContention: many callers on few slots all get served, never more
// instances than slots, and no wake-up is lost (a lost one shows as errPoolBusy: the
// timeout is far longer than any wait here).
func TestPoolUnderContention(t *testing.T) {
	h, _ := newHost(t, Options{Defaults: Limits{TimeoutMS: 5000, Instances: 2}})
	hk := build(t, h, fixture(t, "header.wasm"), "")
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := reqCtx("/", nil)
			for range 200 {
				if _, err := hk.call(c, plugins.Rewrite); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := live(hk.pool); n < 1 || n > 2 {
		t.Errorf("%d live instances, want 1 or 2", n)
	}
}
