package wasmhost

import (
	"encoding/json"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-gw/portico/plugins"
)

// TestGoGuest builds the example Go hook with GOOS=wasip1 and runs it: WASI wiring,
// _initialize, stdout to the log, conf, variables, headers and respond.
func TestGoGuest(t *testing.T) {
	wasm := goGuest(t)
	h, lb := newHost(t, Options{})
	info, err := h.Validate(wasm)
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	for _, imp := range []string{"portico.get_var", "portico.set_var", "wasi_snapshot_preview1.fd_write"} {
		if !strings.Contains(strings.Join(info.Imports, " "), imp) {
			t.Errorf("imports %v lack %s", info.Imports, imp)
		}
	}
	hk := build(t, h, wasm, `{"tag":"t1"}`)
	c := reqCtx("/anything/42/hello", params{"user_id": "42"})
	if res, err := hk.call(c, plugins.Rewrite); err != nil || res.Stopped() {
		t.Fatalf("rewrite: %+v, %v", res, err)
	}
	if v, _ := c.Var("user_id"); v != "42" || c.R.Header.Get("X-Tag") != "t1" {
		t.Errorf("user_id = %q, X-Tag = %q", v, c.R.Header.Get("X-Tag"))
	}
	c = reqCtx("/anything/blocked/hello", params{"user_id": "blocked"})
	if res, err := hk.call(c, plugins.Access); err != nil || res.Status != 403 || string(res.Body) != "user blocked\n" {
		t.Errorf("access: %+v %q, %v", res, res.Body, err)
	}
	if !strings.Contains(lb.String(), `text="goguest ready"`) {
		t.Errorf("guest stdout not in the log:\n%s", lb)
	}
	// The Go runtime needs more than a few pages: a small limit is refused when built.
	mods := map[string][]byte{"go": wasm}
	if _, err := h.HookBuilder(byID(mods, Limits{MemoryPages: 8}))("p", json.RawMessage(`"go"`)); err == nil ||
		!strings.Contains(err.Error(), "over its limit of 8 pages") {
		t.Errorf("8 pages: %v", err)
	}
}

// TestReplace_hammer swaps the module behind a wasm_modules id while calls flow, as a
// new snapshot does: no call fails, every call runs one version or the other, and the
// pools of hooks nobody references are closed once they are garbage.
func TestReplace_hammer(t *testing.T) {
	h, _ := newHost(t, Options{Defaults: Limits{Instances: 2, TimeoutMS: 5000}})
	versions := [][]byte{fixture(t, "header.wasm"), fixture(t, "user_id.wasm")}
	var cur atomic.Pointer[Hook]
	buildVersion := func(i int) *Hook {
		mods := map[string][]byte{"m": versions[i%2]}
		hk, err := h.HookBuilder(byID(mods, Limits{Instances: 1 + i%3}))("proxy-rewrite", json.RawMessage(`"m"`))
		if err != nil {
			t.Fatal(err)
		}
		return hk.(*Hook)
	}
	cur.Store(buildVersion(0))
	var (
		stop  atomic.Bool
		wg    sync.WaitGroup
		calls atomic.Int64
		fails atomic.Int64
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				c := reqCtx("/anything/7/hello", params{"user_id": "7"})
				if _, err := cur.Load().call(c, plugins.Rewrite); err != nil {
					t.Error(err)
					fails.Add(1)
				}
				_, header := c.R.Header["X-Route-Id"]
				v, _ := c.Var("user_id")
				if header == (v == "7") {
					t.Errorf("call ran neither or both versions: header %v, user_id %q", header, v)
				}
				calls.Add(1)
			}
		}()
	}
	for i := 1; i <= 30; i++ {
		time.Sleep(2 * time.Millisecond)
		cur.Store(buildVersion(i))
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("%d calls, %d failed, across 30 replacements", calls.Load(), fails.Load())

	// Old hooks are garbage now: their cleanups close the pools but the current one.
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC()
		h.mu.Lock()
		n := len(h.pools)
		h.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d pools alive, want 1", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	runtime.KeepAlive(cur.Load())
}

// TestIdleModules: compiled modules nobody references are kept up to MaxIdleModules,
// so a module validated on write is not compiled again when a route uses it.
func TestIdleModules(t *testing.T) {
	h, _ := newHost(t, Options{MaxIdleModules: 1})
	a, b := fixture(t, "user_id.wasm"), fixture(t, "header.wasm")
	if _, err := h.Validate(a); err != nil {
		t.Fatal(err)
	}
	ca, _ := h.acquire(a)
	h.release(ca)
	if _, err := h.Validate(b); err != nil {
		t.Fatal(err)
	}
	ca2, _ := h.acquire(a)
	if ca2 == ca {
		t.Error("module a stayed compiled past MaxIdleModules=1")
	}
	h.release(ca2)
	cb, _ := h.acquire(b) // a's release evicted b
	cb2, _ := h.acquire(b)
	if cb != cb2 {
		t.Error("two acquires of one content compiled twice")
	}
	h.release(cb)
	h.release(cb2)
}

func TestCacheDirAndClose(t *testing.T) {
	dir := t.TempDir()
	h, lb := newHost(t, Options{CacheDir: dir})
	hk := build(t, h, fixture(t, "user_id.wasm"), "")
	if entries, _ := os.ReadDir(dir); len(entries) == 0 {
		t.Error("nothing in the compilation cache dir")
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	// after Close a hook fails, is logged, and the request goes on
	if res := hk.Run(reqCtx("/", params{"user_id": "1"}), plugins.Rewrite); res.Stopped() {
		t.Errorf("Run after Close = %+v", res)
	}
	if !strings.Contains(lb.String(), "pre_function failed") {
		t.Errorf("no failure logged after Close:\n%s", lb)
	}
	if _, err := h.Validate(fixture(t, "user_id.wasm")); err != ErrClosed {
		t.Errorf("Validate after Close: %v", err)
	}
}
