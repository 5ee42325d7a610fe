package wasmhost

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/plugins"
)

// TestDeadlineLazyTimer: an instance's timer is armed by a call only when it is disarmed
// and no call stops it (instance.expire). A call must still end at its own deadline, never
// before it, whether an earlier call armed the timer or an idle firing disarmed it.
func TestDeadlineLazyTimer(t *testing.T) {
	const timeout = 100 * time.Millisecond
	h, _ := newHost(t, Options{Defaults: Limits{TimeoutMS: 100, Instances: 1}})
	hk := build(t, h, fixture(t, "loop_in_access.wasm"), "")
	quick := func(t *testing.T, n int) {
		t.Helper()
		for range n {
			if _, err := hk.call(reqCtx("/", nil), plugins.Rewrite); err != nil {
				t.Fatalf("quick call: %v", err)
			}
		}
	}
	loop := func(t *testing.T) {
		t.Helper()
		start := time.Now()
		done := make(chan error, 1)
		go func() {
			_, err := hk.call(reqCtx("/", nil), plugins.Access)
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "deadline of 100ms exceeded") {
				t.Fatalf("looping call: err = %v, want its deadline exceeded", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the looping call was never stopped")
		}
		if el := time.Since(start); el < timeout {
			t.Errorf("the looping call was stopped after %v, before its %v deadline", el, timeout)
		}
	}
	t.Run("armed by earlier calls", func(t *testing.T) {
		// The timer fires at the first call's deadline, finds the looping call in time,
		// re-arms for the rest of it and then stops it.
		quick(t, 50)
		time.Sleep(timeout * 6 / 10)
		quick(t, 1)
		loop(t)
	})
	t.Run("disarmed while idle", func(t *testing.T) {
		quick(t, 1)
		time.Sleep(2 * timeout) // the timer fires on an idle instance and disarms
		loop(t)
	})
	t.Run("instance after a discard", func(t *testing.T) {
		loop(t) // a new instance: its first call arms its timer
		quick(t, 3)
	})
}

// TestDeadlineOnOneP: with GOMAXPROCS 1 and as many looping calls as instances, every P
// is in a guest loop Go cannot preempt; the deadline timers still run (the guests yield
// to the scheduler, see internal/wasmbin) and stop every call.
func TestDeadlineOnOneP(t *testing.T) {
	h, _ := newHost(t, Options{Defaults: Limits{TimeoutMS: 50, Instances: 3}})
	hk := build(t, h, fixture(t, "infinite_loop.wasm"), "")
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			_, err := hk.call(reqCtx("/", nil), plugins.Access)
			errs <- err
		}()
	}
	for range 3 {
		if err := <-errs; err == nil || !strings.Contains(err.Error(), "deadline of 50ms exceeded") {
			t.Fatalf("looping call: err = %v, want its deadline exceeded", err)
		}
	}
}
