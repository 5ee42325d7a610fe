package admin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/portico-gw/portico/store"
)

// configsValidate is APISIX's POST /apisix/admin/configs/validate (3.17+,
// apisix/admin/config_validate.lua, what ADC's dry runs call): a whole configuration in
// the standalone layout (routes: [...], upstreams: [...], …; YAML when the Content-Type
// says application/yaml, else JSON), each item checked as the Admin API would check it
// for storing, except that what it names (another resource, an ssl, a consumer) is not
// looked up. Nothing is stored. 200 {} or 400 {"error_msg": "Configuration validation
// failed", "errors": [{resource_type, resource_id, index, error}]}. Kinds Portico does not
// have (protos, secrets, stream_routes) are not checked.
func (s *Server) configsValidate(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(bytes.TrimSpace(body)) == 0 {
		writeError(w, http.StatusBadRequest, "invalid request body: empty request body")
		return
	}
	var doc map[string]any
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/yaml") {
		if err := yaml.Unmarshal(body, &doc); err != nil || doc == nil {
			writeError(w, http.StatusBadRequest, "invalid request body: invalid yaml request body")
			return
		}
	} else if err := json.Unmarshal(body, &doc); err != nil || doc == nil {
		msg := "expected a JSON object"
		if err != nil {
			msg = store.SchemaError(err).Error()
		}
		writeError(w, http.StatusBadRequest, "invalid request body: "+msg)
		return
	}

	type entry struct {
		key   string
		kind  store.Kind
		index int
		id    string // the item's, or arr_<n> for one without
		shown string // the item's as given, for the report
		value json.RawMessage
	}
	var (
		entries []entry
		errs    = []map[string]any{}
		mem     = memReader{} // the items checked so far, for checks across items
	)
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		if base, ok := strings.CutSuffix(key, "_conf_version"); ok {
			switch doc[key].(type) {
			case float64, int, nil: // JSON's and YAML's numbers
			default:
				errs = append(errs, map[string]any{"resource_type": base, "error": fmt.Sprintf("%s must be a number, got %s", key, jsonType(doc[key]))})
			}
			continue
		}
		ki, ok := kinds[key]
		if !ok {
			continue
		}
		list, ok := doc[key].([]any)
		if !ok {
			errs = append(errs, map[string]any{"resource_type": key, "error": key + " must be an array"})
			continue
		}
		seen := map[string]bool{}
		for i, v := range list {
			obj, ok := v.(map[string]any)
			if !ok {
				errs = append(errs, map[string]any{"resource_type": key, "resource_id": "", "index": i, "error": "invalid configuration: wrong type: expected object"})
				continue
			}
			kind, idField := ki.kind, ki.idField
			raw := obj[idField]
			if cid, isStr := obj["id"].(string); kind == store.KindConsumer && isStr && strings.Contains(cid, "/credentials/") {
				// a credential, kept in the consumers list as "<username>/credentials/<id>"
				user, c, _ := strings.Cut(cid, "/credentials/")
				kind, raw = store.KindCredential, store.CredentialID(user, c)
				delete(obj, "id")
			}
			id := ""
			if raw != nil {
				id = fmt.Sprint(raw)
			}
			shown := id
			if id == "" {
				id = fmt.Sprintf("arr_%d", i+1) // as the standalone file names an item without one
			}
			if seen[kind.Singular()+"/"+id] {
				what := "id"
				if kind == store.KindConsumer {
					what = "username"
				} else if kind == store.KindCredential {
					what = "credential id"
				}
				errs = append(errs, map[string]any{"resource_type": key, "resource_id": shown, "index": i, "error": fmt.Sprintf("found duplicate %s %s in %s", what, shown, key)})
				continue
			}
			seen[kind.Singular()+"/"+id] = true
			value, _ := json.Marshal(obj)
			entries = append(entries, entry{key, kind, i, id, shown, value})
		}
	}
	for _, e := range entries {
		err := store.ValidKindID(e.kind, e.id)
		if err == nil {
			err = s.check(mem, e.kind, e.id, e.value, false)
		}
		if err != nil {
			errs = append(errs, map[string]any{"resource_type": e.key, "resource_id": e.shown, "index": e.index, "error": err.Error()})
			continue
		}
		// later items are checked against the earlier ones (a key two consumers hold is
		// reported once, on the second)
		mem.put(store.Item{Kind: e.kind, ID: e.id, Value: e.value})
	}
	if len(errs) > 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error_msg": "Configuration validation failed", "errors": errs})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

func jsonType(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case bool:
		return "boolean"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// memReader is a store.Reader over the items of one request body.
type memReader map[store.Kind]map[string]store.Item

func (m memReader) put(it store.Item) {
	if m[it.Kind] == nil {
		m[it.Kind] = map[string]store.Item{}
	}
	m[it.Kind][it.ID] = it
}

func (m memReader) Get(k store.Kind, id string) (store.Item, error) {
	if it, ok := m[k][id]; ok {
		return it, nil
	}
	return store.Item{}, store.ErrNotFound
}

func (m memReader) List(k store.Kind) ([]store.Item, error) {
	out := make([]store.Item, 0, len(m[k]))
	for _, it := range m[k] {
		out = append(out, it)
	}
	slices.SortFunc(out, func(a, b store.Item) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (m memReader) Revision() int64 { return 0 }
