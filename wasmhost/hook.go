package wasmhost

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync/atomic"

	"github.com/tetratelabs/wazero/sys"

	"github.com/portico-gw/portico/internal/metrics"
	"github.com/portico-gw/portico/plugins"
)

// Ref is a decoded `_meta.pre_function`: a module id (Module) or an inline module
// (Wasm), and the hook's conf (compact JSON object, nil when absent).
type Ref struct {
	Module string
	Wasm   []byte
	Conf   json.RawMessage
}

// MaxInlineBytes bounds an inline module (decoded); bigger ones belong in a
// wasm_modules resource.
const MaxInlineBytes = 1 << 20

const refForms = `a wasm_modules id, {"module": "<id>", "conf": {...}} or {"wasm": "<base64>", "conf": {...}}`

// ParseRef decodes the three forms of `_meta.pre_function`. The Admin API may use it to
// find which wasm_modules a plugin references.
func ParseRef(raw json.RawMessage) (Ref, error) {
	raw = bytes.TrimSpace(raw)
	var id string
	if len(raw) > 0 && raw[0] == '"' {
		if err := json.Unmarshal(raw, &id); err != nil {
			return Ref{}, fmt.Errorf("pre_function: %w", err)
		}
		if id == "" {
			return Ref{}, errors.New("pre_function: empty module id")
		}
		return Ref{Module: id}, nil
	}
	var obj struct {
		Module *string          `json:"module"`
		Wasm   *string          `json:"wasm"`
		Conf   *json.RawMessage `json:"conf"`
	}
	if len(raw) == 0 || raw[0] != '{' {
		return Ref{}, fmt.Errorf("pre_function must be %s", refForms)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&obj); err != nil {
		return Ref{}, fmt.Errorf("pre_function must be %s: %w", refForms, err)
	}
	var ref Ref
	switch {
	case (obj.Module == nil) == (obj.Wasm == nil):
		return Ref{}, errors.New(`pre_function: exactly one of "module" and "wasm" is required`)
	case obj.Module != nil:
		if *obj.Module == "" {
			return Ref{}, errors.New("pre_function: empty module id")
		}
		ref.Module = *obj.Module
	default:
		b, err := base64.StdEncoding.DecodeString(*obj.Wasm)
		if err != nil {
			return Ref{}, fmt.Errorf("pre_function.wasm: not base64: %w", err)
		}
		if len(b) > MaxInlineBytes {
			return Ref{}, fmt.Errorf("pre_function.wasm: %d bytes is over the inline limit of %d; upload it as a wasm_modules resource", len(b), MaxInlineBytes)
		}
		ref.Wasm = b
	}
	if obj.Conf != nil && string(*obj.Conf) != "null" {
		c := bytes.TrimSpace(*obj.Conf)
		if len(c) == 0 || c[0] != '{' {
			return Ref{}, errors.New("pre_function.conf must be an object")
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, c); err != nil {
			return Ref{}, fmt.Errorf("pre_function.conf: %w", err)
		}
		ref.Conf = buf.Bytes()
	}
	return ref, nil
}

// HookBuilder returns the plugins.HookBuilder that builds `_meta.pre_function` hooks.
// resolve finds a wasm_modules resource's bytes and limits by id in the snapshot being
// built. Building compiles (once per content) and checks the module; instances are made
// on first use. A hook no chain references any more releases its pool when it is
// garbage collected (or at once with Close).
func (h *Host) HookBuilder(resolve func(moduleID string) ([]byte, Limits, bool)) plugins.HookBuilder {
	return func(plugin string, raw json.RawMessage) (plugins.Hook, error) {
		ref, err := ParseRef(raw)
		if err != nil {
			return nil, err
		}
		return h.Build(plugin, ref, resolve)
	}
}

// FailOpenHookBuilder is HookBuilder for snapshots built from stored configuration
// (validated when written): a reference that no longer builds (its wasm_modules
// resource gone, a module this node refuses) is logged once here and yields a hook
// that does nothing, so the plugin still runs, as APISIX runs a plugin whose
// pre_function fails. HookBuilder would drop the whole plugin (an auth plugin
// included) from a chain built with BuildChainSkipping. A malformed reference is
// still an error.
func (h *Host) FailOpenHookBuilder(resolve func(moduleID string) ([]byte, Limits, bool)) plugins.HookBuilder {
	return func(plugin string, raw json.RawMessage) (plugins.Hook, error) {
		ref, err := ParseRef(raw)
		if err != nil {
			return nil, err
		}
		hk, err := h.Build(plugin, ref, resolve)
		if err != nil {
			h.log.Error("pre_function cannot be built; the plugin runs without it", "plugin", plugin, "err", err.Error())
			return noHook{}, nil
		}
		return hk, nil
	}
}

// noHook stands for a pre_function that could not be built.
type noHook struct{}

func (noHook) Run(*plugins.Ctx, plugins.Phase) plugins.Result { return plugins.Continue }

// Build builds the hook of one decoded reference (see HookBuilder).
func (h *Host) Build(plugin string, ref Ref, resolve func(moduleID string) ([]byte, Limits, bool)) (*Hook, error) {
	wasm, limits, id := ref.Wasm, Limits{}, ref.Module
	if ref.Module != "" {
		var ok bool
		if resolve != nil {
			wasm, limits, ok = resolve(ref.Module)
		}
		if !ok {
			return nil, fmt.Errorf("wasm module %q not found", ref.Module)
		}
	} else {
		id = fmt.Sprintf("inline:%x", sha256.Sum256(wasm))[:len("inline:")+16]
	}
	limits, err := h.limits(limits)
	if err != nil {
		return nil, fmt.Errorf("wasm module %q: %w", id, err)
	}
	c, err := h.acquire(wasm)
	if err != nil {
		return nil, fmt.Errorf("wasm module %q: %w", id, err)
	}
	if err := h.fits(c, limits); err != nil {
		h.release(c)
		return nil, fmt.Errorf("wasm module %q: %w", id, err)
	}
	p, err := h.pool(c, limits)
	if err != nil {
		return nil, fmt.Errorf("wasm module %q: %w", id, err)
	}
	hk := &Hook{
		id:      id,
		plugin:  plugin,
		conf:    ref.Conf,
		pool:    p,
		ref:     &hookRef{pool: p},
		log:     h.log.With("module", id, "plugin", plugin),
		okCalls: metrics.WasmHookCounter(id, metrics.WasmOK),
	}
	runtime.AddCleanup(hk, func(r *hookRef) { r.release() }, hk.ref)
	return hk, nil
}

// hookRef is what a Hook's cleanup may hold: not the Hook itself.
type hookRef struct {
	pool     *pool
	released atomic.Bool
}

func (r *hookRef) release() {
	if r.released.CompareAndSwap(false, true) {
		r.pool.unref()
	}
}

// Hook is one plugin's `_meta.pre_function`, bound to a compiled module and its pool.
type Hook struct {
	id     string
	plugin string
	conf   []byte
	pool   *pool
	ref    *hookRef
	log    *slog.Logger
	// okCalls is portico_wasm_hook_calls_total{module=id,result="ok"}, resolved once.
	okCalls interface{ Inc() }
}

var _ plugins.Hook = (*Hook)(nil)

// ModuleID is the wasm_modules id, or "inline:<sha256 prefix>".
func (hk *Hook) ModuleID() string { return hk.id }

// Close releases the hook's pool reference now instead of at garbage collection. The
// hook must not run afterwards.
func (hk *Hook) Close() error {
	hk.ref.release()
	return nil
}

// Run runs pre_function before phase p. A failure is logged and the plugin runs
// (APISIX's fail policy): Run then returns plugins.Continue.
func (hk *Hook) Run(c *plugins.Ctx, p plugins.Phase) plugins.Result {
	res, err := hk.call(c, p)
	if err != nil {
		log := hk.log
		if c != nil && c.Log != nil {
			log = c.Log.With("component", "wasmhost", "module", hk.id, "plugin", hk.plugin)
		}
		lvl := slog.LevelError
		if errors.Is(err, errPoolBusy) || errors.Is(err, errBadResult) {
			lvl = slog.LevelWarn
		}
		log.Log(context.Background(), lvl, "pre_function failed; the plugin runs", "phase", p.String(), "err", err.Error())
		return plugins.Continue
	}
	return res
}

var (
	errBadResult = errors.New("pre_function result")
	errDeadline  = errors.New("deadline")
)

// call runs the hook, counts the call in portico_wasm_hook_calls_total and says why it
// failed.
func (hk *Hook) call(c *plugins.Ctx, p plugins.Phase) (plugins.Result, error) {
	res, err := hk.callPool(c, p)
	// The hook must outlive the call: its cleanup closes the pool.
	runtime.KeepAlive(hk)
	if err == nil {
		hk.okCalls.Inc()
	} else {
		metrics.WasmHookCall(hk.id, callResult(err))
	}
	return res, err
}

// callResult classifies a call's error for metrics.WasmHookCall: a call past its
// deadline, or one that found no free instance before it, is a timeout; any other
// failure (trap, fault, exit, failed instantiation, bad result) a trap.
func callResult(err error) string {
	switch {
	case err == nil:
		return metrics.WasmOK
	case errors.Is(err, errDeadline), errors.Is(err, errPoolBusy):
		return metrics.WasmTimeout
	}
	return metrics.WasmTrap
}

// callPool runs pre_function on an instance of the pool. A failed instance is
// discarded.
func (hk *Hook) callPool(c *plugins.Ctx, p plugins.Phase) (plugins.Result, error) {
	pl := hk.pool
	in, err := pl.get()
	if err != nil {
		return plugins.Continue, err
	}
	ret, expired, err := in.call(c, p, hk.conf)
	if err != nil || expired || in.mod.IsClosed() {
		pl.discard(in)
		switch {
		case expired:
			return plugins.Continue, fmt.Errorf("%w of %s exceeded; instance discarded", errDeadline, pl.timeout)
		case err == nil:
			return plugins.Continue, errors.New("the module closed itself; instance discarded")
		}
		var exit *sys.ExitError
		var fault *faultError
		switch {
		case errors.As(err, &fault):
			return plugins.Continue, fmt.Errorf("bad pointer: %w; instance discarded", fault)
		case errors.As(err, &exit):
			return plugins.Continue, fmt.Errorf("the module exited with code %d; instance discarded", exit.ExitCode())
		}
		return plugins.Continue, fmt.Errorf("trap: %w; instance discarded", shortErr(err))
	}
	responded, status, body := in.responded, in.status, in.body
	in.body = nil
	pl.put(in)
	switch {
	case responded:
		return plugins.Respond(status, body), nil
	case ret == 0:
		return plugins.Continue, nil
	case ret == 1:
		return plugins.Continue, fmt.Errorf("%w: 1 (stop) without a respond call", errBadResult)
	}
	return plugins.Continue, fmt.Errorf("%w: %d, want 0 or 1", errBadResult, ret)
}
