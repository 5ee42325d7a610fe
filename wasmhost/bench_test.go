package wasmhost

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/portico-gw/portico/plugins"
)

// BenchmarkHookCall is the per-request cost of a hook that reads one variable and sets
// one header (header.wat), deadline included, on a request reused between iterations
// (the header is already set, as in steady state with a pooled request).
func BenchmarkHookCall(b *testing.B) {
	h, _ := newHost(b, Options{})
	hk := build(b, h, fixture(b, "header.wasm"), "")
	c := reqCtx("/", nil)
	b.ReportAllocs()
	for b.Loop() {
		hk.Run(c, plugins.Rewrite)
	}
	if got := c.R.Header.Get("X-Route-Id"); got != "r1" {
		b.Fatalf("X-Route-Id = %q", got)
	}
}

// BenchmarkHookCallFreshHeader is the same with the header absent before each call, as
// on a new request: net/http's Header map then needs a new []string.
func BenchmarkHookCallFreshHeader(b *testing.B) {
	h, _ := newHost(b, Options{})
	hk := build(b, h, fixture(b, "header.wasm"), "")
	c := reqCtx("/", nil)
	b.ReportAllocs()
	for b.Loop() {
		delete(c.R.Header, "X-Route-Id")
		hk.Run(c, plugins.Rewrite)
	}
}

// BenchmarkHookCallParallel runs the same hook from GOMAXPROCS goroutines through one
// pool of GOMAXPROCS instances.
func BenchmarkHookCallParallel(b *testing.B) {
	h, _ := newHost(b, Options{})
	hk := build(b, h, fixture(b, "header.wasm"), "")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c := reqCtx("/", nil)
		for pb.Next() {
			hk.Run(c, plugins.Rewrite)
		}
	})
}

// BenchmarkHookCallNoDeadline measures wazero's call without our deadline machinery
// (the instance's timer and deadline), for comparison.
func BenchmarkHookCallNoDeadline(b *testing.B) {
	h, _ := newHost(b, Options{})
	hk := build(b, h, fixture(b, "header.wasm"), "")
	c := reqCtx("/", nil)
	in, err := hk.pool.get()
	if err != nil {
		b.Fatal(err)
	}
	in.req, in.phase = c, plugins.Rewrite
	b.ReportAllocs()
	for b.Loop() {
		in.stack[0] = uint64(plugins.Rewrite)
		if err := in.fn.CallWithStack(in, in.stack[:]); err != nil {
			b.Fatal(err)
		}
	}
	in.req = nil
	hk.pool.put(in)
}

func BenchmarkGoGuestCall(b *testing.B) {
	wasm := goGuest(b)
	h, _ := newHost(b, Options{})
	hk := build(b, h, wasm, "")
	c := reqCtx("/anything/42/hello", params{"user_id": "42"})
	b.ReportAllocs()
	for b.Loop() {
		hk.Run(c, plugins.Rewrite)
	}
	if v, _ := c.Var("user_id"); v != "42" {
		b.Fatalf("user_id = %q", v)
	}
}

// BenchmarkCompile is compile + ABI check of a module seen for the first time.
func BenchmarkCompile(b *testing.B) {
	for _, tc := range []struct {
		name string
		wasm func(testing.TB) []byte
	}{
		{"wat", func(t testing.TB) []byte { return fixture(t, "header.wasm") }},
		{"go", goGuest},
	} {
		b.Run(tc.name, func(b *testing.B) {
			wasm := tc.wasm(b)
			h, _ := newHost(b, Options{})
			b.ReportMetric(float64(len(wasm)), "wasm-bytes")
			for b.Loop() {
				cm, _, err := h.compile(wasm)
				if err != nil {
					b.Fatal(err)
				}
				_ = cm.Close(context.Background())
			}
		})
	}
}

// BenchmarkCompileDiskCache is the compile of a Go guest found in the on-disk cache, by
// a fresh Host (as after a restart).
func BenchmarkCompileDiskCache(b *testing.B) {
	wasm := goGuest(b)
	dir := b.TempDir()
	h, _ := newHost(b, Options{CacheDir: dir})
	if _, _, err := h.compile(wasm); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		h2, _ := newHost(b, Options{CacheDir: dir})
		cm, _, err := h2.compile(wasm)
		if err != nil {
			b.Fatal(err)
		}
		_ = cm.Close(context.Background())
		_ = h2.Close()
	}
}

// BenchmarkInstantiate is the cost of one pool instance (_initialize included) and its
// linear memory after start.
func BenchmarkInstantiate(b *testing.B) {
	for _, tc := range []struct {
		name string
		wasm func(testing.TB) []byte
	}{
		{"wat", func(t testing.TB) []byte { return fixture(t, "header.wasm") }},
		{"go", goGuest},
	} {
		b.Run(tc.name, func(b *testing.B) {
			h, _ := newHost(b, Options{})
			hk := build(b, h, tc.wasm(b), "")
			b.ReportAllocs()
			var memBytes uint32
			for b.Loop() {
				in, err := hk.pool.instantiate()
				if err != nil {
					b.Fatal(err)
				}
				memBytes = in.mod.Memory().Size()
				in.close()
			}
			b.ReportMetric(float64(memBytes), "mem-bytes/instance")
		})
	}
}

var (
	goGuestOnce sync.Once
	goGuestWasm []byte
	goGuestErr  string
)

// goGuest builds testdata/wasm/goguest with the Go toolchain running the test, once.
func goGuest(t testing.TB) []byte {
	t.Helper()
	goGuestOnce.Do(func() {
		gobin := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
		if _, err := os.Stat(gobin); err != nil {
			gobin = "go"
		}
		dir, err := os.MkdirTemp("", "goguest")
		if err != nil {
			goGuestErr = err.Error()
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "goguest.wasm")
		cmd := exec.Command(gobin, "build", "-buildmode=c-shared", "-ldflags=-s -w", "-o", out, "./testdata/wasm/goguest")
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			goGuestErr = "GOOS=wasip1 go build ./testdata/wasm/goguest: " + err.Error() + "\n" + string(b)
			return
		}
		goGuestWasm, err = os.ReadFile(out)
		if err != nil {
			goGuestErr = err.Error()
		}
	})
	if goGuestErr != "" {
		t.Fatal(goGuestErr)
	}
	return goGuestWasm
}

var _ = http.MethodGet
