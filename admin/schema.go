package admin

import (
	"encoding/json"
	"net/http"
	"reflect"

	"github.com/gorilla/mux"

	"github.com/portico-gw/portico/internal/typeschema"
	"github.com/portico-gw/portico/store"
)

// coreTypes are the resources GET /apisix/admin/schema/{name} describes, by APISIX's
// names (apisix/schema_def.lua).
var coreTypes = map[string]reflect.Type{
	"route":          reflect.TypeFor[store.Route](),
	"service":        reflect.TypeFor[store.Service](),
	"upstream":       reflect.TypeFor[store.Upstream](),
	"consumer":       reflect.TypeFor[store.Consumer](),
	"consumer_group": reflect.TypeFor[store.ConsumerGroup](),
	"credential":     reflect.TypeFor[store.Credential](),
	"plugin_config":  reflect.TypeFor[store.PluginConfig](),
	"global_rule":    reflect.TypeFor[store.GlobalRule](),
	"ssl":            reflect.TypeFor[store.SSL](),
}

// coreSchema is APISIX's GET /apisix/admin/schema/{name} (apisix/admin/schema.lua): a
// resource's schema, here the one its strict decoding implies.
func (s *Server) coreSchema(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	t, ok := coreTypes[name]
	if !ok {
		writeError(w, http.StatusBadRequest, "not found schema: "+name)
		return
	}
	writeJSON(w, http.StatusOK, typeschema.Of(t))
}

// schemaValidate is APISIX's POST /apisix/admin/schema/validate/{kind}: the body checked
// as that resource, nothing stored and no reference looked up; 200 with no body, or 400.
func (s *Server) schemaValidate(w http.ResponseWriter, r *http.Request) {
	kind := mux.Vars(r)["kind"]
	ki, ok := kinds[kind]
	if !ok {
		writeError(w, http.StatusNotFound, "Unsupported resource type: "+kind)
		return
	}
	m, err := readObject(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	raw, _ := json.Marshal(m)
	if _, err := store.DecodeKind(ki.kind, raw); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	w.WriteHeader(http.StatusOK)
}
