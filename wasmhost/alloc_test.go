package wasmhost

import (
	"testing"

	"github.com/portico-gw/portico/plugins"
)

// TestCallAllocs: a steady-state call (the header hook on a reused request) allocates
// nothing, deadline included (with wazero's WithCloseOnContextDone it was three
// allocations a call, for its watcher goroutine).
func TestCallAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	h, _ := newHost(t, Options{})
	hk := build(t, h, fixture(t, "header.wasm"), "")
	c := reqCtx("/", nil)
	hk.Run(c, plugins.Rewrite) // fill the pool and the intern maps
	if n := testing.AllocsPerRun(2000, func() { hk.Run(c, plugins.Rewrite) }); n != 0 {
		t.Errorf("Run allocates %.1f per call, want 0", n)
	}
}
