package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/portico-gw/portico/store"
)

// kindInfo is what differs between resource kinds in the Admin API.
type kindInfo struct {
	kind        store.Kind
	unsupported []string // methods answered 405
	idField     string   // the body field that holds the id
	filters     []string // fields the `filter` list argument may compare
}

var kinds = map[string]kindInfo{
	"routes":          {kind: store.KindRoute, idField: "id", filters: []string{"service_id", "upstream_id"}},
	"services":        {kind: store.KindService, idField: "id"},
	"upstreams":       {kind: store.KindUpstream, idField: "id"},
	"consumers":       {kind: store.KindConsumer, idField: "username", unsupported: []string{http.MethodPost, http.MethodPatch}},
	"consumer_groups": {kind: store.KindConsumerGroup, idField: "id", unsupported: []string{http.MethodPost}},
	"plugin_configs":  {kind: store.KindPluginConfig, idField: "id", unsupported: []string{http.MethodPost}},
	"global_rules":    {kind: store.KindGlobalRule, idField: "id", unsupported: []string{http.MethodPost}},
	"plugin_metadata": {kind: store.KindPluginMetadata, idField: "id", unsupported: []string{http.MethodPost, http.MethodPatch}},
	"ssls":            {kind: store.KindSSL, idField: "id"},
}

func (s *Server) resource(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	ki, ok := kinds[v["kind"]]
	if !ok {
		if v["kind"] == "stream_routes" {
			// APISIX's answer on a node whose proxy_mode has no stream (the default)
			writeError(w, http.StatusBadRequest, "stream mode is disabled, can not add stream routes")
			return
		}
		writeError(w, http.StatusNotFound, "Unsupported resource type: "+v["kind"])
		return
	}
	id, sub := unescape(v["id"]), unescape(v["sub"])
	if slices.Contains(ki.unsupported, r.Method) {
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("not supported `%s` method for %s", r.Method, ki.kind.Singular()))
		return
	}
	if id != "" {
		if err := store.ValidKindID(ki.kind, id); err != nil {
			if r.Method == http.MethodGet || r.Method == http.MethodDelete {
				// APISIX looks such a key up and finds nothing
				s.fail(w, r, store.ErrNotFound)
				return
			}
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	if sub != "" && r.Method != http.MethodPatch {
		writeError(w, http.StatusNotFound, "not found")
		return
	}
	switch r.Method {
	case http.MethodGet:
		if id == "" {
			s.list(w, r, ki)
		} else {
			s.get(w, r, ki, id)
		}
	case http.MethodPut:
		s.put(w, r, ki, id)
	case http.MethodPost:
		if id != "" {
			s.fail(w, r, bad("wrong %s id, do not need it", ki.kind.Singular()))
			return
		}
		s.post(w, r, ki)
	case http.MethodPatch:
		s.patch(w, r, ki, id, sub)
	case http.MethodDelete:
		s.delete(w, r, ki, id)
	default:
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("not supported `%s` method for %s", r.Method, ki.kind.Singular()))
	}
}

func unescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

// envelope is one item as the Admin API shows it.
func envelope(it store.Item, withIndexes bool) map[string]any {
	m := map[string]any{"key": it.Key(), "value": publicValue(it)}
	if withIndexes {
		m["createdIndex"] = it.CreatedIndex
		m["modifiedIndex"] = it.ModifiedIndex
	}
	return m
}

// publicValue hides what GET must never return: SSL private keys.
func publicValue(it store.Item) json.RawMessage {
	if it.Kind != store.KindSSL {
		return it.Value
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(it.Value, &m) != nil {
		return it.Value
	}
	delete(m, "key")
	delete(m, "keys")
	b, _ := json.Marshal(m)
	return b
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, ki kindInfo, id string) {
	it, err := s.opts.Store.Get(r.Context(), ki.kind, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, envelope(it, true))
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, ki kindInfo) {
	q := r.URL.Query()
	var query store.Query
	page, perr := strconv.Atoi(q.Get("page"))
	size, serr := strconv.Atoi(q.Get("page_size"))
	if perr == nil && serr == nil {
		if size < 10 || size > 500 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte("page_size must be between 10 and 500"))
			return
		}
		query.Page, query.PageSize = max(page, 1), size
	}
	var err error
	if n := q.Get("name"); n != "" {
		if query.Name, err = regexp.Compile(n); err != nil {
			writeError(w, http.StatusBadRequest, "invalid argument name: "+err.Error())
			return
		}
	}
	if u := q.Get("uri"); u != "" {
		if query.URI, err = regexp.Compile(u); err != nil {
			writeError(w, http.StatusBadRequest, "invalid argument uri: "+err.Error())
			return
		}
	}
	if l, ok := q["label"]; ok && len(l) > 0 {
		query.Label = &l[0]
	}
	if f := q.Get("filter"); f != "" {
		fv, err := url.ParseQuery(f)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid argument filter: "+err.Error())
			return
		}
		for k := range fv {
			if slices.Contains(ki.filters, k) {
				if query.Fields == nil {
					query.Fields = map[string]string{}
				}
				query.Fields[k] = fv.Get(k)
			}
		}
	}
	items, total, err := s.opts.Store.List(r.Context(), ki.kind, query)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	list := make([]map[string]any, 0, len(items))
	for _, it := range items {
		list = append(list, envelope(it, true))
	}
	writeJSON(w, http.StatusOK, map[string]any{"list": list, "total": total})
}

// readObject reads the body as one JSON object, keeping the raw field values.
func readObject(r *http.Request) (map[string]json.RawMessage, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, bad("invalid request body: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, bad("missing configurations") // APISIX's words
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, bad("invalid request body: %v", store.SchemaError(err))
	}
	if m == nil {
		return nil, bad("invalid request body: expected a JSON object")
	}
	return m, nil
}

// checkForbiddenTimes refuses timestamps in a PUT or POST body, as APISIX does.
func checkForbiddenTimes(m map[string]json.RawMessage) error {
	for _, f := range []string{"create_time", "update_time"} {
		if _, ok := m[f]; ok {
			return bad("the property is forbidden:  %s", f)
		}
		for _, parent := range []string{"upstream", "plugins"} {
			var inner map[string]json.RawMessage
			if json.Unmarshal(m[parent], &inner) == nil {
				if _, ok := inner[f]; ok {
					return bad("the property is forbidden:  %s.%s", parent, f)
				}
			}
		}
	}
	return nil
}

// bodyID reads the id field of a body as the string it names.
func bodyID(m map[string]json.RawMessage, field string) (string, bool, error) {
	raw, ok := m[field]
	if !ok {
		return "", false, nil
	}
	var id store.ID
	if err := json.Unmarshal(raw, &id); err != nil {
		return "", true, bad("invalid configuration: property %q validation failed: wrong type: expected string or integer", field)
	}
	return string(id), true, nil
}

func dryRun(r *http.Request) bool { return r.URL.Query().Get("dry_run") == "true" }

func (s *Server) put(w http.ResponseWriter, r *http.Request, ki kindInfo, id string) {
	m, err := readObject(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := checkForbiddenTimes(m); err != nil {
		s.fail(w, r, err)
		return
	}
	bid, has, err := bodyID(m, ki.idField)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	fromPath := id != ""
	switch {
	case id == "" && !has:
		s.fail(w, r, missingID(ki.kind))
		return
	case id == "":
		id = bid
	case has && bid != id:
		if ki.kind == store.KindConsumer {
			s.fail(w, r, bad("wrong username"))
		} else {
			s.fail(w, r, bad("wrong %s id", ki.kind.Singular()))
		}
		return
	}
	if err := store.ValidKindID(ki.kind, id); err != nil {
		s.fail(w, r, bad("%v", err))
		return
	}
	// APISIX's resource.lua sets conf.id = id from the path when there is one: {"id":78}
	// on /78 is stored as "78"; an id only in the body is kept as sent
	if fromPath || !has {
		m[ki.idField], _ = json.Marshal(id)
	}
	value, _ := json.Marshal(m)
	check := s.checkWrite(ki.kind, id, dryRun(r))
	stored, err := s.sealed(ki.kind, value)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	it, created, err := s.opts.Store.Put(r.Context(), ki.kind, id, stored, func(rd store.Reader) error { return check(rd, value) })
	if err != nil && !errors.Is(err, store.ErrDryRun) {
		s.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, envelope(it, false))
}

func (s *Server) post(w http.ResponseWriter, r *http.Request, ki kindInfo) {
	m, err := readObject(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := checkForbiddenTimes(m); err != nil {
		s.fail(w, r, err)
		return
	}
	if _, ok := m["id"]; ok {
		s.fail(w, r, bad("wrong %s id, do not need it", ki.kind.Singular()))
		return
	}
	value, _ := json.Marshal(m)
	check := s.checkWrite(ki.kind, "", dryRun(r))
	stored, err := s.sealed(ki.kind, value)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	it, err := s.opts.Store.Create(r.Context(), ki.kind, stored, func(rd store.Reader) error { return check(rd, value) })
	if err != nil && !errors.Is(err, store.ErrDryRun) {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, envelope(it, false))
}

func (s *Server) patch(w http.ResponseWriter, r *http.Request, ki kindInfo, id, sub string) {
	if id == "" {
		s.fail(w, r, missingID(ki.kind))
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(bytes.TrimSpace(body)) == 0 {
		s.fail(w, r, bad("missing new configuration"))
		return
	}
	var patch any
	if err := json.Unmarshal(body, &patch); err != nil {
		s.fail(w, r, bad("invalid request body: %v", store.SchemaError(err)))
		return
	}
	if _, isObj := patch.(map[string]any); sub == "" && !isObj {
		s.fail(w, r, bad("invalid configuration"))
		return
	}
	check := s.checkWrite(ki.kind, id, dryRun(r))
	it, err := s.opts.Store.Patch(r.Context(), ki.kind, id, func(rd store.Reader, old store.Item) (json.RawMessage, bool, error) {
		var cur map[string]any
		if ki.kind == store.KindSSL {
			var err error
			if old.Value, err = s.opts.Keyring.DecryptSSL(old.Value); err != nil {
				return nil, false, fmt.Errorf("decrypt stored ssl %s: %w", id, err)
			}
		}
		if err := json.Unmarshal(old.Value, &cur); err != nil {
			return nil, false, fmt.Errorf("read stored %s %s: %w", ki.kind.Singular(), id, err)
		}
		var merged any
		keepUpdate := false
		if sub == "" {
			merged = mergePatch(cur, patch)
			_, keepUpdate = patch.(map[string]any)["update_time"]
		} else {
			var err error
			if merged, err = setPath(cur, strings.Split(sub, "/"), patch); err != nil {
				return nil, false, err
			}
		}
		if err := patchedID(merged.(map[string]any), ki, id); err != nil {
			return nil, false, err
		}
		value, err := json.Marshal(merged)
		if err != nil {
			return nil, false, err
		}
		cerr := check(rd, value)
		if cerr != nil && !errors.Is(cerr, store.ErrDryRun) {
			return nil, false, cerr
		}
		stored, err := s.sealed(ki.kind, value)
		if err != nil {
			return nil, false, err
		}
		return stored, keepUpdate, cerr
	})
	if err != nil && !errors.Is(err, store.ErrDryRun) {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, envelope(it, false))
}

// patchedID refuses a patch that changes the id, and puts back one it removed, as
// APISIX's check_conf does: the stored id always names the key.
func patchedID(m map[string]any, ki kindInfo, id string) error {
	v, ok := m[ki.idField]
	if !ok || v == nil {
		m[ki.idField] = id
		return nil
	}
	var got string
	switch v := v.(type) {
	case string:
		got = v
	case float64:
		got = strconv.FormatFloat(v, 'f', -1, 64)
	}
	if got != id {
		return bad("wrong %s id", ki.kind.Singular())
	}
	m[ki.idField] = id // a number names the same id; stored as the key's string
	return nil
}

// mergePatch merges patch into cur: objects merge recursively, anything else (arrays
// included) replaces, null deletes.
func mergePatch(cur any, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	cm, ok := cur.(map[string]any)
	if !ok {
		cm = map[string]any{}
	}
	for k, pv := range pm {
		if pv == nil {
			delete(cm, k)
			continue
		}
		cm[k] = mergePatch(cm[k], pv)
	}
	return cm
}

// setPath replaces the value at path, creating missing objects on the way. null is
// refused: APISIX stores it and then fails the schema check (no property takes null).
func setPath(cur map[string]any, path []string, v any) (map[string]any, error) {
	if v == nil {
		return nil, bad("invalid configuration: property %q validation failed: wrong type: got null", strings.Join(path, "."))
	}
	node := cur
	for i, seg := range path[:len(path)-1] {
		next, ok := node[seg]
		if !ok || next == nil {
			m := map[string]any{}
			node[seg] = m
			node = m
			continue
		}
		m, ok := next.(map[string]any)
		if !ok {
			return nil, bad("invalid sub-path: /%s", strings.Join(path[:i+1], "/"))
		}
		node = m
	}
	node[path[len(path)-1]] = v
	return cur, nil
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request, ki kindInfo, id string) {
	if id == "" {
		s.fail(w, r, missingID(ki.kind))
		return
	}
	var check store.Check
	if r.URL.Query().Get("force") != "true" {
		check = func(rd store.Reader) error { return referrers(rd, ki.kind, id) }
	}
	if dryRun(r) {
		inner := check
		check = func(rd store.Reader) error {
			if inner != nil {
				if err := inner(rd); err != nil {
					return err
				}
			}
			return store.ErrDryRun
		}
	}
	_, err := s.opts.Store.Delete(r.Context(), ki.kind, id, check)
	if err != nil && !errors.Is(err, store.ErrDryRun) {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"deleted": "1", "key": store.Key(ki.kind, id)})
}

// referrers refuses to delete an item another item still names, with APISIX's words.
func referrers(rd store.Reader, k store.Kind, id string) error {
	type ref struct {
		kind  store.Kind
		field string
		what  string // APISIX's noun for the target
	}
	var refs []ref
	switch k {
	case store.KindUpstream:
		refs = []ref{{store.KindRoute, "upstream_id", "upstream"}, {store.KindService, "upstream_id", "upstream"}}
	case store.KindService:
		refs = []ref{{store.KindRoute, "service_id", "service directly"}}
	case store.KindPluginConfig:
		refs = []ref{{store.KindRoute, "plugin_config_id", "plugin config"}}
	case store.KindConsumerGroup:
		refs = []ref{{store.KindConsumer, "group_id", "consumer group"}}
	}
	for _, rf := range refs {
		items, err := rd.List(rf.kind)
		if err != nil {
			return err
		}
		for _, it := range items {
			var m map[string]json.RawMessage
			if json.Unmarshal(it.Value, &m) != nil {
				continue
			}
			var got store.ID
			if json.Unmarshal(m[rf.field], &got) == nil && string(got) == id {
				return bad("can not delete this %s, %s [%s] is still using it now", rf.what, rf.kind.Singular(), it.ID)
			}
		}
	}
	switch k {
	case store.KindUpstream:
		return upstreamInTrafficSplit(rd, id)
	case store.KindSSL:
		return clientCertUsers(rd, id, "delete")
	}
	return nil
}

// trafficSplitOwner names a kind as APISIX's "upstream in use" message does
// (t/admin/upstream5.t).
var trafficSplitOwner = map[store.Kind]string{
	store.KindRoute: "route", store.KindService: "service", store.KindPluginConfig: "plugin_config",
	store.KindConsumer: "consumer", store.KindConsumerGroup: "consumer_group", store.KindGlobalRule: "global_rules",
}

// upstreamInTrafficSplit finds an upstream named by a traffic-split rule.
func upstreamInTrafficSplit(rd store.Reader, id string) error {
	for _, k := range []store.Kind{store.KindRoute, store.KindService, store.KindPluginConfig, store.KindConsumer, store.KindConsumerGroup, store.KindGlobalRule} {
		items, err := rd.List(k)
		if err != nil {
			return err
		}
		for _, it := range items {
			var v struct {
				Plugins struct {
					TrafficSplit struct {
						Rules []struct {
							WeightedUpstreams []struct {
								UpstreamID store.ID `json:"upstream_id"`
							} `json:"weighted_upstreams"`
						} `json:"rules"`
					} `json:"traffic-split"`
				} `json:"plugins"`
			}
			if json.Unmarshal(it.Value, &v) != nil {
				continue
			}
			for _, rule := range v.Plugins.TrafficSplit.Rules {
				for _, wu := range rule.WeightedUpstreams {
					if string(wu.UpstreamID) == id {
						return bad("can not delete this upstream, plugin in %s [%s] is still using it now", trafficSplitOwner[k], it.ID)
					}
				}
			}
		}
	}
	return nil
}

// checkWrite returns the check a write runs inside its transaction: the schema, the
// references, the plugins and the data plane's own check.
func (s *Server) checkWrite(k store.Kind, id string, dry bool) func(rd store.Reader, value json.RawMessage) error {
	return func(rd store.Reader, value json.RawMessage) error {
		if err := s.validate(rd, k, id, value); err != nil {
			return err
		}
		if dry {
			return store.ErrDryRun
		}
		return nil
	}
}

// sealed is the value as stored: SSL private keys encrypted with the node's keyring.
func (s *Server) sealed(k store.Kind, value json.RawMessage) (json.RawMessage, error) {
	if k != store.KindSSL || s.opts.Keyring == nil {
		return value, nil
	}
	out, err := s.opts.Keyring.EncryptSSL(value)
	if err != nil {
		return nil, fmt.Errorf("encrypt ssl keys: %w", err)
	}
	return out, nil
}

// missingID is APISIX's answer to a write that names no id.
func missingID(k store.Kind) error {
	if k == store.KindPluginMetadata {
		return bad("missing plugin name") // apisix/admin/plugin_metadata.lua
	}
	return bad("missing %s id", k.Singular())
}
