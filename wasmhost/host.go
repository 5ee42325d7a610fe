package wasmhost

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// Options configures a Host. The zero value is usable.
type Options struct {
	// CacheDir, when set, keeps compiled machine code on disk so a restart does not
	// recompile (wazero keys entries by its version, GOOS and GOARCH).
	CacheDir string
	// MaxMemoryPages is the node's ceiling for any instance's memory, in 64 KiB pages;
	// a module's limits may not exceed it. Zero: 4096 (256 MiB).
	MaxMemoryPages uint32
	// Defaults fills the zero fields of a module's Limits. Zero fields here: 256 pages
	// (16 MiB), 100 ms, GOMAXPROCS instances.
	Defaults Limits
	// MaxIdleModules is how many compiled modules no hook references are kept for
	// reuse (a module validated on write, a route briefly removed). Zero: 16.
	MaxIdleModules int
	// Logger receives traps, timeouts and guest output. Nil: slog.Default().
	Logger *slog.Logger
}

// Limits bound one module's instances. Zero fields take the Host's defaults.
type Limits struct {
	// MemoryPages caps an instance's linear memory (64 KiB pages).
	MemoryPages uint32 `json:"memory_pages,omitempty"`
	// TimeoutMS is the deadline of one pre_function call in milliseconds.
	TimeoutMS int `json:"timeout_ms,omitempty"`
	// Instances is the size of the module's instance pool: the calls it runs at once.
	Instances int `json:"instances,omitempty"`
}

// Limits' bounds, whatever the node allows.
const (
	maxTimeoutMS = 60_000
	maxInstances = 1024
	maxPages     = 65536
)

// Validate checks the fields against fixed bounds; the node's memory ceiling is checked
// when a hook is built.
func (l Limits) Validate() error {
	switch {
	case l.MemoryPages > maxPages:
		return fmt.Errorf("limits.memory_pages %d is over %d", l.MemoryPages, maxPages)
	case l.TimeoutMS < 0 || l.TimeoutMS > maxTimeoutMS:
		return fmt.Errorf("limits.timeout_ms %d is outside 0..%d", l.TimeoutMS, maxTimeoutMS)
	case l.Instances < 0 || l.Instances > maxInstances:
		return fmt.Errorf("limits.instances %d is outside 0..%d", l.Instances, maxInstances)
	}
	return nil
}

func (l Limits) timeout() time.Duration { return time.Duration(l.TimeoutMS) * time.Millisecond }

// withDefaults fills l's zero fields from d.
func (l Limits) withDefaults(d Limits) Limits {
	if l.MemoryPages == 0 {
		l.MemoryPages = d.MemoryPages
	}
	if l.TimeoutMS == 0 {
		l.TimeoutMS = d.TimeoutMS
	}
	if l.Instances == 0 {
		l.Instances = d.Instances
	}
	return l
}

// Host owns the wazero runtime, the compiled modules and their instance pools. It is
// safe for concurrent use; one per process.
type Host struct {
	opts  Options
	log   *slog.Logger
	rt    wazero.Runtime
	cache wazero.CompilationCache
	epoch time.Time // monotonic origin of instance deadlines

	// imports are the functions a guest may import, by "module.name".
	imports map[string]api.FunctionDefinition

	mu      sync.Mutex
	closed  bool
	modules map[[sha256.Size]byte]*compiled
	idle    []*compiled // compiled modules no hook references, oldest first
	pools   map[poolKey]*pool

	// trace, when set (tests), receives one line per host call.
	trace func(string)
}

// ErrClosed is returned by a Host after Close.
var ErrClosed = errors.New("wasm host is closed")

// New starts the runtime: wazero with deadlines enabled, the "portico" host module and
// a sandboxed wasi_snapshot_preview1.
func New(opts Options) (*Host, error) {
	if opts.MaxMemoryPages == 0 {
		opts.MaxMemoryPages = 4096
	}
	if opts.MaxMemoryPages > maxPages {
		return nil, fmt.Errorf("wasm host: max memory pages %d is over %d", opts.MaxMemoryPages, maxPages)
	}
	d := &opts.Defaults
	if d.MemoryPages == 0 {
		d.MemoryPages = min(256, opts.MaxMemoryPages)
	}
	if d.TimeoutMS == 0 {
		d.TimeoutMS = 100
	}
	if d.Instances == 0 {
		d.Instances = runtime.GOMAXPROCS(0)
	}
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("wasm host: defaults: %w", err)
	}
	if d.MemoryPages > opts.MaxMemoryPages {
		return nil, fmt.Errorf("wasm host: default memory pages %d over the ceiling %d", d.MemoryPages, opts.MaxMemoryPages)
	}
	if opts.MaxIdleModules == 0 {
		opts.MaxIdleModules = 16
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	h := &Host{
		opts:    opts,
		log:     opts.Logger.With("component", "wasmhost"),
		epoch:   time.Now(),
		modules: make(map[[sha256.Size]byte]*compiled),
		pools:   make(map[poolKey]*pool),
		imports: make(map[string]api.FunctionDefinition),
	}
	// NewRuntimeConfig picks the compiler on amd64 and arm64 and the interpreter
	// elsewhere (NewRuntimeConfigCompiler would panic there).
	// No WithCloseOnContextDone: wasmbin's interrupt global stops a call instead,
	// without wazero's watcher goroutine per call.
	cfg := wazero.NewRuntimeConfig().
		WithMemoryLimitPages(opts.MaxMemoryPages)
	if opts.CacheDir != "" {
		cache, err := wazero.NewCompilationCacheWithDir(opts.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("wasm host: compilation cache %s: %w", opts.CacheDir, err)
		}
		h.cache = cache
		cfg = cfg.WithCompilationCache(cache)
	}
	ctx := context.Background()
	h.rt = wazero.NewRuntimeWithConfig(ctx, cfg)
	fail := func(what string, err error) (*Host, error) {
		_ = h.rt.Close(ctx)
		if h.cache != nil {
			_ = h.cache.Close(ctx)
		}
		return nil, fmt.Errorf("wasm host: %s: %w", what, err)
	}
	porticoMod, err := h.hostModule().Instantiate(ctx)
	if err != nil {
		return fail("instantiate host module portico", err)
	}
	wasi, err := wasi_snapshot_preview1.Instantiate(ctx, h.rt)
	if err != nil {
		return fail("instantiate wasi_snapshot_preview1", err)
	}
	for name, def := range porticoMod.ExportedFunctionDefinitions() {
		h.imports[hostModuleName+"."+name] = def
	}
	wasiMod, ok := wasi.(api.Module)
	if !ok {
		return fail("wasi", errors.New("wazero's wasi_snapshot_preview1 is not an api.Module"))
	}
	defs := wasiMod.ExportedFunctionDefinitions()
	for _, name := range allowedWASI {
		def, ok := defs[name]
		if !ok {
			return fail("wasi", fmt.Errorf("wazero lacks %s", name))
		}
		h.imports[wasiModuleName+"."+name] = def
	}
	return h, nil
}

// Close closes every instance, every compiled module and the runtime. Hooks built
// before fail (and are logged) afterwards.
func (h *Host) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	pools := h.pools
	h.pools = map[poolKey]*pool{}
	h.modules = map[[sha256.Size]byte]*compiled{}
	h.idle = nil
	h.mu.Unlock()
	for _, p := range pools {
		p.close()
	}
	ctx := context.Background()
	err := h.rt.Close(ctx)
	if h.cache != nil {
		if e := h.cache.Close(ctx); err == nil {
			err = e
		}
	}
	return err
}
