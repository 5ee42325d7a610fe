package wasmhost

import (
	"testing"

	"github.com/portico-gw/portico/internal/metrics"
	"github.com/portico-gw/portico/plugins"
)

// hookCalls reads portico_wasm_hook_calls_total{module, result}; 0 when absent.
func hookCalls(t *testing.T, module, result string) float64 {
	t.Helper()
	mfs, err := metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "portico_wasm_hook_calls_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var mod, res string
			for _, lp := range m.GetLabel() {
				switch lp.GetName() {
				case "module":
					mod = lp.GetValue()
				case "result":
					res = lp.GetValue()
				}
			}
			if mod == module && res == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestHookCallMetric: every call of a hook is counted once, by module id and result.
func TestHookCallMetric(t *testing.T) {
	h, _ := newHost(t, Options{Defaults: Limits{TimeoutMS: 50, MemoryPages: 4, Instances: 1}})
	tests := []struct {
		file   string
		phase  plugins.Phase
		result string
	}{
		{"header.wasm", plugins.Rewrite, metrics.WasmOK},
		{"memory_grow.wasm", plugins.Rewrite, metrics.WasmTrap},
		{"bad_pointer.wasm", plugins.Rewrite, metrics.WasmTrap},
		{"init_trap.wasm", plugins.Rewrite, metrics.WasmTrap},
		{"infinite_loop.wasm", plugins.Access, metrics.WasmTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			hk := build(t, h, fixture(t, tt.file), "")
			id := hk.ModuleID()
			before := map[string]float64{}
			for _, r := range []string{metrics.WasmOK, metrics.WasmTrap, metrics.WasmTimeout} {
				before[r] = hookCalls(t, id, r)
			}
			hk.Run(reqCtx("/", nil), tt.phase)
			hk.Run(reqCtx("/", nil), tt.phase)
			for r, b := range before {
				want := b
				if r == tt.result {
					want += 2
				}
				if got := hookCalls(t, id, r); got != want {
					t.Errorf("portico_wasm_hook_calls_total{module=%q,result=%q} = %v, want %v", id, r, got, want)
				}
			}
		})
	}
}

func TestCallResult(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{nil, metrics.WasmOK},
		{errPoolBusy, metrics.WasmTimeout},
		{errBadResult, metrics.WasmTrap},
		{ErrClosed, metrics.WasmTrap},
	} {
		if got := callResult(tt.err); got != tt.want {
			t.Errorf("callResult(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
