package wasmbin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

const fixtures = "../../../testdata/wasm"

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// runtimes are both of wazero's engines: the rewrite must hold in each.
func runtimes(t *testing.T) map[string]wazero.Runtime {
	ctx := context.Background()
	rts := map[string]wazero.Runtime{
		"interpreter": wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter()),
		"default":     wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig()),
	}
	t.Cleanup(func() {
		for _, rt := range rts {
			_ = rt.Close(ctx)
		}
	})
	return rts
}

// loops instantiates env and the instrumented interrupt_loops in rt.
func loops(t *testing.T, rt wazero.Runtime) api.Module {
	t.Helper()
	ctx := context.Background()
	if _, err := rt.InstantiateWithConfig(ctx, fixture(t, "interrupt_env.wasm"), wazero.NewModuleConfig().WithName("env")); err != nil {
		t.Fatal(err)
	}
	wasm, err := Prepare(fixture(t, "interrupt_loops.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	mod, err := rt.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		t.Fatal(err)
	}
	return mod
}

func TestInstrumentedLoopsComputeAsBefore(t *testing.T) {
	for name, rt := range runtimes(t) {
		t.Run(name, func(t *testing.T) {
			mod := loops(t, rt)
			ctx := context.Background()
			for _, n := range []uint64{0, 1, 2, 10, 1000} {
				res, err := mod.ExportedFunction("sum").Call(ctx, n)
				if err != nil {
					t.Fatalf("sum(%d): %v", n, err)
				}
				if want := n * (n - 1) / 2; n > 0 && res[0] != want || n == 0 && res[0] != 0 {
					t.Errorf("sum(%d) = %d, want %d", n, res[0], want)
				}
			}
			res, err := mod.ExportedFunction("rounds").Call(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if res[0] != 1+2+10+1000 {
				t.Errorf("inner loop ran %d times, want %d", res[0], 1+2+10+1000)
			}
			g := mod.ExportedGlobal(InterruptExport)
			if g == nil {
				t.Fatalf("no global exported as %s", InterruptExport)
			}
			if _, ok := g.(api.MutableGlobal); !ok || g.Type() != api.ValueTypeI32 || g.Get() != 0 {
				t.Errorf("%s = %v, want a mutable i32 at 0", InterruptExport, g)
			}
		})
	}
}

// TestALoopYieldsToTheScheduler: with one P, held by a guest spinning in compiled
// code (which Go cannot preempt), the test goroutine must still wake up to set the
// interrupt: the guest's periodic yields give the scheduler the chance. Without them
// this test hangs until the test binary's timeout.
func TestALoopYieldsToTheScheduler(t *testing.T) {
	mod := loops(t, runtimes(t)["default"])
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	done := make(chan error, 1)
	go func() {
		_, err := mod.ExportedFunction("spin").Call(context.Background())
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // the timer needs the P the guest holds
	mod.ExportedGlobal(InterruptExport).(api.MutableGlobal).Set(1)
	if err := <-done; err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("spin = %v, want the unreachable trap", err)
	}
}

func TestSettingTheGlobalStopsARunningLoop(t *testing.T) {
	for name, rt := range runtimes(t) {
		t.Run(name, func(t *testing.T) {
			mod := loops(t, rt)
			done := make(chan error, 1)
			go func() {
				_, err := mod.ExportedFunction("spin").Call(context.Background())
				done <- err
			}()
			select {
			case err := <-done:
				t.Fatalf("spin returned before the interrupt: %v", err)
			case <-time.After(50 * time.Millisecond):
			}
			mod.ExportedGlobal(InterruptExport).(api.MutableGlobal).Set(1)
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), "unreachable") {
					t.Fatalf("spin = %v, want the unreachable trap", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("spin did not stop after the global was set")
			}
		})
	}
}

func TestSectionsAddedWhereMissing(t *testing.T) {
	orig := fixture(t, "interrupt_bare.wasm")
	wasm, err := Prepare(orig)
	if err != nil {
		t.Fatal(err)
	}
	for name, rt := range runtimes(t) {
		t.Run(name, func(t *testing.T) {
			mod, err := rt.InstantiateWithConfig(context.Background(), wasm, wazero.NewModuleConfig().WithName(""))
			if err != nil {
				t.Fatal(err)
			}
			if mod.ExportedGlobal(InterruptExport) == nil {
				t.Errorf("no global exported as %s", InterruptExport)
			}
			start := mod.ExportedFunction(StartExport)
			if start == nil {
				t.Fatalf("the start function is not exported as %s", StartExport)
			}
			if _, err := start.Call(context.Background()); err != nil {
				t.Errorf("start: %v", err)
			}
		})
	}
	if got := bytes.Count(wasm, checkCode([]byte{0}, []byte{1})); got != 2 {
		t.Errorf("%d checks, want 2 (the function's entry, its loop)", got)
	}
}

func TestEveryFunctionAndLoopGetsOneCheck(t *testing.T) {
	for _, name := range []string{"interrupt_loops.wasm", "interrupt_bare.wasm", "infinite_loop.wasm", "header.wasm", "allcalls.wasm"} {
		t.Run(name, func(t *testing.T) {
			orig := fixture(t, name)
			wasm, err := Prepare(orig)
			if err != nil {
				t.Fatal(err)
			}
			wat, _ := os.ReadFile(filepath.Join(fixtures, strings.TrimSuffix(name, ".wasm")+".wat"))
			want := strings.Count(string(wat), "(loop") + definedFunctions(t, orig)
			global := map[string]uint64{"interrupt_loops.wasm": 2}[name]
			if got := bytes.Count(wasm, checkCode(uleb(global), uleb(global+1))); got != want {
				t.Errorf("%d checks, want %d (one per function and loop)", got, want)
			}
			if _, err := wazero.NewRuntime(context.Background()).CompileModule(context.Background(), wasm); err != nil {
				t.Errorf("the instrumented module does not compile: %v", err)
			}
		})
	}
}

func TestRefused(t *testing.T) {
	bare := fixture(t, "interrupt_bare.wasm")
	reserved := append(bytes.Clone(bare), exportSection()...)
	tests := []struct {
		name string
		wasm []byte
		want string
	}{
		{"empty", nil, "not a WebAssembly 1 binary"},
		{"text", []byte("(module)"), "not a WebAssembly 1 binary"},
		{"version 2", append([]byte("\x00asm\x02\x00\x00\x00"), bare[8:]...), "not a WebAssembly 1 binary"},
		{"truncated", bare[:len(bare)-3], "size out of bounds"},
		{"unknown section", append(bytes.Clone(bare), 0x20, 0x00), "unknown section id 32"},
		{"reserved export", reserved, `exports "__portico_interrupt": names starting with __portico_ are the host's`},
		{"threads", module(0xFE, 0x00, 0x00, 0x00), "not a WebAssembly 2.0 instruction"},
		{"tail call", module(0x12, 0x00), "not a WebAssembly 2.0 instruction"},
		{"unknown 0xFC", module(0xFC, 0x20), "not a WebAssembly 2.0 instruction"},
		{"LEB too long", module(0x41, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00), "LEB128 too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Prepare(tt.wasm)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// exportSection is an export section exporting function 0 under InterruptExport, which a
// module may not do (export section after the start section: the order is not ours to
// check, only the name).
func exportSection() []byte {
	entry := append(append(uleb(uint64(len(InterruptExport))), InterruptExport...), 0x00, 0x00)
	payload := append([]byte{0x01}, entry...)
	return append([]byte{secExport, byte(len(payload))}, payload...)
}

// module is a one-function module whose body is code followed by end.
func module(code ...byte) []byte {
	body := append([]byte{0x00}, code...) // no locals
	body = append(body, 0x0B)
	codeSec := append([]byte{0x01}, append(uleb(uint64(len(body))), body...)...)
	b := []byte("\x00asm\x01\x00\x00\x00")
	b = append(b, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00) // type () -> ()
	b = append(b, 0x03, 0x02, 0x01, 0x00)             // func 0: type 0
	b = append(b, secCode, byte(len(codeSec)))
	return append(b, codeSec...)
}

func TestCustomSectionsDropped(t *testing.T) {
	custom := func(name string) []byte {
		p := append(uleb(uint64(len(name))), name...)
		p = append(p, "payload"...)
		return append([]byte{secCustom, byte(len(p))}, p...)
	}
	wasm := append(module(0x01), custom(".debug_info")...)
	wasm = append(wasm, custom("name")...)
	out, err := Prepare(wasm)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte("payload")) {
		t.Errorf("custom sections kept: %q", out)
	}
}

// sec encodes a section.
func sec(id byte, payload ...byte) []byte {
	return append(append([]byte{id}, uleb(uint64(len(payload)))...), payload...)
}

func cat(parts ...[]byte) []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

var (
	typeVoid = sec(secType, 0x01, 0x60, 0x00, 0x00)
	oneFunc  = sec(secFunction, 0x01, 0x00)
)

// codeWith is a code section holding one body: its local declarations, then end.
func codeWith(locals ...byte) []byte {
	body := append(bytes.Clone(locals), 0x0B)
	return sec(secCode, append(append([]byte{0x01}, uleb(uint64(len(body)))...), body...)...)
}

func join(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// TestDeclaredSizesBounded: sizes a module declares but does not hold, or that pass
// the JS API's limits, are refused before wazero allocates for them. Each of these
// modules is a few bytes; several made wazero v1.12 allocate gigabytes.
func TestDeclaredSizesBounded(t *testing.T) {
	tests := []struct {
		name string
		wasm []byte
		want string
	}{
		{"2^28 locals", cat(typeVoid, oneFunc, codeWith(join([]byte{0x01}, uleb(1<<28), []byte{0x7F})...)), "268435456 locals, at most 50000"},
		{"50001 locals in two declarations", cat(typeVoid, oneFunc, codeWith(join([]byte{0x02}, uleb(50000), []byte{0x7F, 0x01, 0x7E})...)), "50001 locals"},
		{"a 1 GiB data segment", cat(sec(secMemory, 0x01, 0x00, 0x01), sec(secData, join([]byte{0x01, 0x01}, uleb(1<<30))...)), "1073741824 bytes declared"},
		{"2^30 exports", cat(sec(secExport, uleb(1<<30)...)), "1073741824 exports declared, at most 100000"},
		{"exports not there", cat(sec(secExport, join(uleb(1000), []byte{0x00})...)), "1000 exports declared in 1 bytes"},
		{"a 4 GiB export name", cat(sec(secExport, join([]byte{0x01}, uleb(1<<32-1))...)), "4294967295 bytes declared"},
		{"2^31 params", cat(sec(secType, join([]byte{0x01, 0x60}, uleb(1<<31))...)), "params declared"},
		{"2^31 element entries", cat(sec(secElement, join([]byte{0x01, 0x01, 0x00}, uleb(1<<31))...)), "elements declared"},
		{"a table of 2^27 entries", cat(sec(secTable, join([]byte{0x01, 0x70, 0x00}, uleb(1<<27))...)), "a table of 134217728 entries, at most 1000000"},
		{"2^20 imports", cat(sec(secImport, uleb(1<<20)...)), "1048576 imports declared, at most 100000"},
		{"a section past the end", cat([]byte{secCustom, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F}), "4294967295 bytes declared"},
		{"shared memory", cat(sec(secMemory, 0x01, 0x03, 0x01, 0x01)), "shared or 64-bit"},
		{"an 8 MiB body", cat(typeVoid, oneFunc, sec(secCode, join([]byte{0x01}, uleb(8<<20))...)), "a body of 8388608 bytes, at most 7654321"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Prepare(tt.wasm)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestTablesBounded: a table's maximum is lowered to MaxTableEntries (none declared:
// set to it), so table.grow past it fails with -1 instead of allocating.
func TestTablesBounded(t *testing.T) {
	// (table 1 funcref) and (func (result i32) (table.grow (ref.null func) (i32.const n)))
	typeI32 := sec(secType, 0x01, 0x60, 0x00, 0x01, 0x7F)
	table := sec(secTable, 0x01, 0x70, 0x00, 0x01)
	grow := func(n uint64) []byte {
		body := join([]byte{0x00, 0xD0, 0x70, 0x41}, sleb(int64(n)), []byte{0xFC, 0x0F, 0x00, 0x0B})
		return sec(secCode, join([]byte{0x01}, uleb(uint64(len(body))), body)...)
	}
	export := sec(secExport, 0x01, 0x04, 'g', 'r', 'o', 'w', 0x00, 0x00)
	ctx := context.Background()
	for name, rt := range runtimes(t) {
		for _, tt := range []struct {
			n    uint64
			want uint64
		}{{10, 1}, {MaxTableEntries - 1, 1}, {MaxTableEntries, 1<<32 - 1}, {1 << 27, 1<<32 - 1}} {
			t.Run(fmt.Sprintf("%s/grow %d", name, tt.n), func(t *testing.T) {
				wasm, err := Prepare(cat(typeI32, oneFunc, table, export, grow(tt.n)))
				if err != nil {
					t.Fatal(err)
				}
				mod, err := rt.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithName(""))
				if err != nil {
					t.Fatal(err)
				}
				defer mod.Close(ctx)
				res, err := mod.ExportedFunction("grow").Call(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if uint32(res[0]) != uint32(tt.want) {
					t.Errorf("table.grow(%d) = %d, want %d", tt.n, int32(res[0]), int32(tt.want))
				}
			})
		}
	}
}

// FuzzPrepare: whatever the input, Prepare does not panic; a module it accepts and
// wazero compiles still compiles once prepared, and a module it refuses for an
// instruction it does not know does not compile either.
//
// Only those inputs reach wazero, without their custom sections: refused for a bound,
// or malformed before the bounds could all be checked, or with a "name" section
// Prepare drops unread, an input may be one that makes wazero allocate gigabytes.
func FuzzPrepare(f *testing.F) {
	for _, name := range []string{"interrupt_loops.wasm", "interrupt_bare.wasm", "header.wasm", "allcalls.wasm", "fuzz_abi.wasm", "infinite_loop.wasm"} {
		f.Add(fixture(f, name))
	}
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	compiles := func(wasm []byte) error {
		cm, err := rt.CompileModule(ctx, wasm)
		if err == nil {
			_ = cm.Close(ctx)
		}
		return err
	}
	f.Fuzz(func(t *testing.T, wasm []byte) {
		out, err := Prepare(wasm)
		wasm, ok := withoutCustomSections(wasm)
		if !ok {
			return
		}
		switch {
		case err == nil:
			if compiles(out) != nil {
				if err := compiles(wasm); err == nil {
					t.Fatalf("compiles, but not once prepared")
				}
			}
		case errors.Is(err, errUnsupported):
			if compiles(wasm) == nil {
				t.Fatalf("wazero compiles it, Prepare refuses: %v", err)
			}
		}
	})
}

// withoutCustomSections is wasm without its custom sections; false if its sections
// cannot be told apart.
func withoutCustomSections(wasm []byte) ([]byte, bool) {
	if !bytes.HasPrefix(wasm, header) {
		return nil, false
	}
	out := bytes.Clone(header)
	r := reader{b: wasm, off: len(header)}
	for !r.done() {
		start := r.off
		id := r.byte()
		r.bytes(r.u32())
		if r.err != nil {
			return nil, false
		}
		if id != secCustom {
			out = append(out, wasm[start:r.off]...)
		}
	}
	return out, true
}

// definedFunctions is the number of bodies in wasm's code section.
func definedFunctions(t *testing.T, wasm []byte) int {
	r := reader{b: wasm, off: len(header)}
	for !r.done() {
		id := r.byte()
		payload := r.bytes(r.u32())
		if id == secCode {
			pr := reader{b: payload}
			return int(pr.u32())
		}
	}
	t.Fatalf("no code section (%v)", r.err)
	return 0
}
