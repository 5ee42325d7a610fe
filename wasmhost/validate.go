package wasmhost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/portico-gw/portico/wasmhost/internal/wasmbin"
)

// Info describes a valid module, for the Admin API's wasm_modules metadata.
type Info struct {
	Size   int    `json:"size"`
	SHA256 string `json:"sha256"` // hex
	// Exports are the exported functions and memories, as "name" or "memory name".
	Exports []string `json:"exports"`
	// Imports are the imported functions, as "module.name".
	Imports []string `json:"imports"`
	// MemoryPages is the exported memory's initial size in 64 KiB pages.
	MemoryPages uint32 `json:"memory_pages"`
}

// Validate checks a module as the Admin API must before storing it: it is WebAssembly,
// it compiles, it exports memory, portico_hook_v1 and pre_function(i32) -> i32, it
// imports only the ABI's functions, and an instance can be made (its _initialize, if
// any, returns) under the default limits. The error says what is wrong.
func (h *Host) Validate(wasm []byte) (Info, error) {
	return h.ValidateWithLimits(wasm, Limits{})
}

// ValidateWithLimits is Validate for a module stored with limits (zero fields: the
// defaults); they are checked too.
func (h *Host) ValidateWithLimits(wasm []byte, limits Limits) (Info, error) {
	limits, err := h.limits(limits)
	if err != nil {
		return Info{}, err
	}
	c, err := h.acquire(wasm)
	if err != nil {
		return Info{}, err
	}
	defer h.release(c)
	if err := h.fits(c, limits); err != nil {
		return Info{}, err
	}
	// A trial instance runs _initialize under the limits, outside any pool.
	p := newPool(h, c, limits)
	in, err := p.instantiate()
	if err != nil {
		return Info{}, err
	}
	in.close()
	return c.info, nil
}

// limits defaults l and checks it against fixed bounds and the node's ceiling.
func (h *Host) limits(l Limits) (Limits, error) {
	if err := l.Validate(); err != nil {
		return l, err
	}
	l = l.withDefaults(h.opts.Defaults)
	if l.MemoryPages > h.opts.MaxMemoryPages {
		return l, fmt.Errorf("limits.memory_pages %d is over this node's ceiling of %d", l.MemoryPages, h.opts.MaxMemoryPages)
	}
	return l, nil
}

// fits checks that the module's initial memory fits its limit.
func (h *Host) fits(c *compiled, l Limits) error {
	if c.info.MemoryPages > l.MemoryPages {
		return fmt.Errorf("the module's memory starts at %d pages, over its limit of %d pages (limits.memory_pages)", c.info.MemoryPages, l.MemoryPages)
	}
	return nil
}

var wasmMagic = []byte{0x00, 'a', 's', 'm'}

// compile compiles and checks wasm against the ABI.
func (h *Host) compile(wasm []byte) (wazero.CompiledModule, Info, error) {
	info := Info{Size: len(wasm)}
	switch {
	case len(wasm) == 0:
		return nil, info, errors.New("not a WebAssembly module: it is empty")
	case !bytes.HasPrefix(wasm, wasmMagic):
		head := wasm[:min(len(wasm), 8)]
		return nil, info, fmt.Errorf(`not a WebAssembly module: it starts with %q, not "\x00asm"`, head)
	}
	// Bounded and instrumented before wazero sees it: wazero allocates by the sizes a
	// binary declares, and the interrupt global is how a call's deadline stops it.
	prepared, err := wasmbin.Prepare(wasm)
	if err != nil {
		return nil, info, fmt.Errorf("not a valid WebAssembly module: %w", err)
	}
	ctx := context.Background()
	cm, err := h.rt.CompileModule(ctx, prepared)
	if err != nil {
		return nil, info, fmt.Errorf("compile: %w", err)
	}
	var problems []string
	for _, def := range cm.ImportedFunctions() {
		mod, name, _ := def.Import()
		full := mod + "." + name
		info.Imports = append(info.Imports, full)
		want, ok := h.imports[full]
		switch {
		case !ok && mod == hostModuleName:
			problems = append(problems, fmt.Sprintf("imports %s, which the host does not provide (portico_hook_v1 has %s)", full, strings.Join(h.porticoNames(), ", ")))
		case !ok && mod == wasiModuleName:
			problems = append(problems, fmt.Sprintf("imports %s, which hooks may not use (allowed WASI: %s)", full, strings.Join(allowedWASI, ", ")))
		case !ok:
			problems = append(problems, fmt.Sprintf("imports %s: a hook may import only from portico and wasi_snapshot_preview1", full))
		case !sameSignature(def, want):
			problems = append(problems, fmt.Sprintf("imports %s as %s, want %s", full, signature(def), signature(want)))
		}
	}
	for _, mem := range cm.ImportedMemories() {
		mod, name, _ := mem.Import()
		problems = append(problems, fmt.Sprintf("imports memory %s.%s: a hook must define and export its own memory", mod, name))
	}
	exports := cm.ExportedFunctions()
	for name := range exports {
		if !strings.HasPrefix(name, wasmbin.ReservedPrefix) {
			info.Exports = append(info.Exports, name)
		}
	}
	mems := cm.ExportedMemories()
	for name := range mems {
		info.Exports = append(info.Exports, "memory "+name)
	}
	slices.Sort(info.Exports)
	if m, ok := mems[exportMemory]; ok {
		info.MemoryPages = m.Min()
	} else {
		problems = append(problems, `does not export its memory as "memory"`)
	}
	for _, want := range []struct {
		name            string
		params, results []api.ValueType
	}{
		{exportMarker, nil, nil},
		{exportPreFunction, []api.ValueType{api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}},
	} {
		def, ok := exports[want.name]
		wantSig := sigString(want.params, want.results)
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("does not export function %s %s", want.name, wantSig))
		case signature(def) != wantSig:
			problems = append(problems, fmt.Sprintf("exports %s as %s, want %s", want.name, signature(def), wantSig))
		}
	}
	if def, ok := exports[exportInitialize]; ok && signature(def) != "() -> ()" {
		problems = append(problems, fmt.Sprintf("exports _initialize as %s, want () -> ()", signature(def)))
	}
	if _, ok := exports["_start"]; ok {
		if _, ok := exports[exportInitialize]; !ok {
			problems = append(problems, "is a command (exports _start, not _initialize): build a reactor, e.g. go build -buildmode=c-shared")
		}
	}
	if len(problems) > 0 {
		_ = cm.Close(ctx)
		return nil, info, fmt.Errorf("not a portico_hook_v1 module: it %s", strings.Join(problems, "; it "))
	}
	return cm, info, nil
}

func (h *Host) porticoNames() []string {
	var names []string
	for full := range h.imports {
		if name, ok := strings.CutPrefix(full, hostModuleName+"."); ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

func sameSignature(a, b api.FunctionDefinition) bool {
	return slices.Equal(a.ParamTypes(), b.ParamTypes()) && slices.Equal(a.ResultTypes(), b.ResultTypes())
}

func signature(def api.FunctionDefinition) string {
	return sigString(def.ParamTypes(), def.ResultTypes())
}

func sigString(params, results []api.ValueType) string {
	names := func(ts []api.ValueType) string {
		s := make([]string, len(ts))
		for i, t := range ts {
			s[i] = api.ValueTypeName(t)
		}
		return "(" + strings.Join(s, ", ") + ")"
	}
	return names(params) + " -> " + names(results)
}

// shortErr keeps the first line of a wazero error (the wasm stack trace follows).
func shortErr(err error) error {
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		return &shortError{msg: msg[:i], err: err}
	}
	return err
}

type shortError struct {
	msg string
	err error
}

func (e *shortError) Error() string { return e.msg }
func (e *shortError) Unwrap() error { return e.err }
