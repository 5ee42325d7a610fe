package proxy

import (
	"encoding/base64"
	"encoding/json"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/store"
	"github.com/portico-gw/portico/wasmhost"
)

// WasmModule is a stored wasm_modules value: the module's bytes (base64), its limits and
// what validation found.
type WasmModule struct {
	Name   string          `json:"name,omitempty"`
	Desc   string          `json:"desc,omitempty"`
	Wasm   string          `json:"wasm"`
	Limits wasmhost.Limits `json:"limits,omitzero"`
	Info   *wasmhost.Info  `json:"info,omitempty"`
	ID     string          `json:"id,omitempty"`
	// Times are kept by the store.
	CreateTime int64 `json:"create_time,omitempty"`
	UpdateTime int64 `json:"update_time,omitempty"`
}

// ModuleResolver turns stored wasm_modules into the resolver the hook builder needs.
func ModuleResolver(items []store.Item) func(id string) ([]byte, wasmhost.Limits, bool) {
	mods := map[string]WasmModule{}
	for _, it := range items {
		var m WasmModule
		if json.Unmarshal(it.Value, &m) == nil {
			mods[it.ID] = m
		}
	}
	return func(id string) ([]byte, wasmhost.Limits, bool) {
		m, ok := mods[id]
		if !ok {
			return nil, wasmhost.Limits{}, false
		}
		b, err := base64.StdEncoding.DecodeString(m.Wasm)
		if err != nil {
			return nil, wasmhost.Limits{}, false
		}
		return b, m.Limits, true
	}
}

// hookBuilder is the snapshot's `_meta.pre_function` builder, nil without a wasm host
// (then a plugin with a hook is left out of its chain and logged).
func (s *Server) hookBuilder(items map[store.Kind][]store.Item) plugins.HookBuilder {
	if s.Wasm == nil {
		return nil
	}
	return s.Wasm.FailOpenHookBuilder(ModuleResolver(items[store.KindWasmModule]))
}
