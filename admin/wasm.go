package admin

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"

	"github.com/gorilla/mux"

	"github.com/portico-gw/portico/proxy"
	"github.com/portico-gw/portico/store"
	"github.com/portico-gw/portico/wasmhost"
)

// wasmModules serves /apisix/admin/wasm_modules[/{id}]: hook modules uploaded as raw
// application/wasm bytes or as JSON {name, desc, wasm: base64, limits}. A module is
// compiled and checked against the hook ABI before it is stored; GET shows what
// validation found, not the bytes, unless ?with_wasm=true.
func (s *Server) wasmModules(w http.ResponseWriter, r *http.Request) {
	id := unescape(mux.Vars(r)["id"])
	if id != "" {
		if err := store.ValidID(id); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	withWasm := r.URL.Query().Get("with_wasm") == "true"
	switch r.Method {
	case http.MethodGet:
		if id != "" {
			it, err := s.opts.Store.Get(r.Context(), store.KindWasmModule, id)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			writeJSON(w, http.StatusOK, wasmEnvelope(it, withWasm, true))
			return
		}
		items, total, err := s.opts.Store.List(r.Context(), store.KindWasmModule, store.Query{})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		list := make([]map[string]any, 0, len(items))
		for _, it := range items {
			list = append(list, wasmEnvelope(it, withWasm, true))
		}
		writeJSON(w, http.StatusOK, map[string]any{"list": list, "total": total})
	case http.MethodPut, http.MethodPost:
		if r.Method == http.MethodPut && id == "" {
			s.fail(w, r, bad("missing wasm module id"))
			return
		}
		if r.Method == http.MethodPost && id != "" {
			s.fail(w, r, bad("wrong wasm module id, do not need it"))
			return
		}
		mod, err := s.readModule(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		value, _ := json.Marshal(mod)
		var (
			it      store.Item
			created bool
		)
		dry := func(store.Reader) error {
			if dryRun(r) {
				return store.ErrDryRun
			}
			return nil
		}
		if id != "" {
			mod.ID = id
			value, _ = json.Marshal(mod)
			it, created, err = s.opts.Store.Put(r.Context(), store.KindWasmModule, id, value, dry)
		} else {
			it, err = s.opts.Store.Create(r.Context(), store.KindWasmModule, value, dry)
			created = true
		}
		if err != nil && !errors.Is(err, store.ErrDryRun) {
			s.fail(w, r, err)
			return
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		writeJSON(w, status, wasmEnvelope(it, false, false))
	case http.MethodDelete:
		if id == "" {
			s.fail(w, r, bad("missing wasm module id"))
			return
		}
		var check store.Check
		if r.URL.Query().Get("force") != "true" {
			check = func(rd store.Reader) error { return moduleReferrers(rd, id) }
		}
		if _, err := s.opts.Store.Delete(r.Context(), store.KindWasmModule, id, check); err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"deleted": "1", "key": store.Key(store.KindWasmModule, id)})
	default:
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("not supported `%s` method for wasm module", r.Method))
	}
}

// readModule reads and validates an uploaded module.
func (s *Server) readModule(r *http.Request) (*proxy.WasmModule, error) {
	if s.opts.Wasm == nil {
		return nil, bad("wasm hooks are not available on this node")
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	mod := &proxy.WasmModule{}
	var code []byte
	if bytes.HasPrefix(body, []byte("\x00asm")) || r.Header.Get("Content-Type") == "application/wasm" {
		code = body
		mod.Name = r.URL.Query().Get("name")
	} else {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		var in struct {
			Name   string          `json:"name"`
			Desc   string          `json:"desc"`
			Wasm   string          `json:"wasm"`
			Limits wasmhost.Limits `json:"limits"`
		}
		if err := dec.Decode(&in); err != nil {
			return nil, bad("invalid request body: %v", store.SchemaError(err))
		}
		if in.Wasm == "" {
			return nil, bad(`invalid configuration: property "wasm" is required (the module, base64), or send the raw bytes as application/wasm`)
		}
		if code, err = base64.StdEncoding.DecodeString(in.Wasm); err != nil {
			return nil, bad(`invalid configuration: property "wasm" is not base64: %v`, err)
		}
		mod.Name, mod.Desc, mod.Limits = in.Name, in.Desc, in.Limits
	}
	if err := mod.Limits.Validate(); err != nil {
		return nil, bad("invalid configuration: limits: %v", err)
	}
	info, err := s.opts.Wasm.ValidateWithLimits(code, mod.Limits)
	if err != nil {
		return nil, bad("invalid wasm module: %v", err)
	}
	mod.Wasm = base64.StdEncoding.EncodeToString(code)
	mod.Info = &info
	return mod, nil
}

// wasmEnvelope shows a module without its bytes unless asked.
func wasmEnvelope(it store.Item, withWasm, indexes bool) map[string]any {
	var m map[string]any
	json.Unmarshal(it.Value, &m)
	if !withWasm {
		delete(m, "wasm")
	}
	out := map[string]any{"key": it.Key(), "value": m}
	if indexes {
		out["createdIndex"], out["modifiedIndex"] = it.CreatedIndex, it.ModifiedIndex
	}
	return out
}

// preFunctions yields the `_meta.pre_function` of every plugin in a plugins object.
func preFunctions(ps store.Plugins) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	for name, raw := range ps {
		var cfg struct {
			Meta struct {
				PreFunction json.RawMessage `json:"pre_function"`
			} `json:"_meta"`
		}
		if json.Unmarshal(raw, &cfg) == nil && len(cfg.Meta.PreFunction) > 0 && string(cfg.Meta.PreFunction) != "null" {
			out[name] = cfg.Meta.PreFunction
		}
	}
	return out
}

// moduleReferrers refuses to delete a module a plugin's `_meta.pre_function` names.
func moduleReferrers(rd store.Reader, id string) error {
	for _, k := range []store.Kind{store.KindRoute, store.KindService, store.KindPluginConfig, store.KindGlobalRule, store.KindConsumer, store.KindConsumerGroup} {
		items, err := rd.List(k)
		if err != nil {
			return err
		}
		for _, it := range items {
			var v struct {
				Plugins store.Plugins `json:"plugins"`
			}
			if json.Unmarshal(it.Value, &v) != nil {
				continue
			}
			names := make([]string, 0)
			for n, raw := range preFunctions(v.Plugins) {
				if ref, err := wasmhost.ParseRef(raw); err == nil && ref.Module == id {
					names = append(names, n)
				}
			}
			for _, n := range []string{"serverless-pre-function", "serverless-post-function"} {
				var cfg struct {
					Functions []json.RawMessage `json:"functions"`
				}
				if json.Unmarshal(v.Plugins[n], &cfg) != nil {
					continue
				}
				for _, raw := range cfg.Functions {
					if ref, err := wasmhost.ParseRef(raw); err == nil && ref.Module == id {
						names = append(names, n)
					}
				}
			}
			if len(names) > 0 {
				sort.Strings(names)
				return bad("can not delete this wasm module, %s [%s] is still using it now (plugin %s)", k.Singular(), it.ID, names[0])
			}
		}
	}
	return nil
}

// checkHooks builds every wasm function a plugins object names (`_meta.pre_function`,
// serverless functions) against the stored modules, so a reference to a missing or
// broken module is refused at write time.
func (s *Server) checkHooks(rd store.Reader, ps store.Plugins) error {
	needs := len(preFunctions(ps)) > 0
	for name := range ps {
		if sp, ok := s.opts.Registry.Lookup(name); ok && sp.BuildWithHooks != nil {
			needs = true
		}
	}
	if !needs {
		return nil
	}
	if s.opts.Wasm == nil {
		return bad("wasm functions are not available on this node")
	}
	mods, err := rd.List(store.KindWasmModule)
	if err != nil {
		return err
	}
	ch, err := s.opts.Registry.BuildChain(ps, s.opts.Wasm.HookBuilder(proxy.ModuleResolver(mods)))
	if err != nil {
		return bad("%v", err)
	}
	ch.Close()
	return nil
}
