package wasmhost

import (
	"testing"

	"github.com/portico-gw/portico/plugins"
)

// TestCallAllocs: a steady-state call (the header hook on a reused request) allocates
// nothing beyond what wazero's CallWithStack allocates itself (its deadline watcher:
// a channel, a goroutine and a closure in wazero v1.12).
func TestCallAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	h, _ := newHost(t, Options{})
	hk := build(t, h, fixture(t, "header.wasm"), "")
	c := reqCtx("/", nil)
	hk.Run(c, plugins.Rewrite) // fill the pool and the intern maps
	ours := testing.AllocsPerRun(2000, func() { hk.Run(c, plugins.Rewrite) })

	in, err := hk.pool.get()
	if err != nil {
		t.Fatal(err)
	}
	in.req, in.phase = c, plugins.Rewrite
	wazeros := testing.AllocsPerRun(2000, func() {
		in.stack[0] = uint64(plugins.Rewrite)
		_ = in.fn.CallWithStack(in, in.stack[:])
	})
	in.req = nil
	hk.pool.put(in)
	if ours > wazeros {
		t.Errorf("Run allocates %.1f per call, wazero's call alone %.1f", ours, wazeros)
	}
	t.Logf("allocations per call: Run %.1f, wazero CallWithStack %.1f", ours, wazeros)
}
