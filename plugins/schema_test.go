package plugins

import (
	"encoding/json"
	"testing"
)

type schemaConf struct {
	Name string `json:"name"`
}

func (*schemaConf) Validate() error { return nil }

type schemaConsumer struct {
	Key string `json:"key"`
}

func (*schemaConsumer) Validate() error { return nil }

// TestSchema: a plugin's schema is its config type's with APISIX's injected _meta; an
// auth plugin's consumer schema is its consumer config type's; others have none.
func TestSchema(t *testing.T) {
	spec := Spec{Name: "x", NewConfig: func() Config { return &schemaConf{} }}
	props := Schema(spec)["properties"].(map[string]any)
	if _, ok := props["_meta"]; !ok || props["name"] == nil || len(props) != 2 {
		t.Errorf("properties %v", props)
	}
	if _, ok := ConsumerSchema(spec); ok {
		t.Error("a plugin that is not auth has a consumer schema")
	}
	cs, ok := ConsumerSchema(Spec{Name: "a", Type: "auth", NewConfig: func() Config { return &schemaConf{} },
		NewConsumerConfig: func() Config { return &schemaConsumer{} }})
	if b, _ := json.Marshal(cs["properties"].(map[string]any)["key"]); !ok || string(b) != `{"type":"string"}` {
		t.Errorf("consumer schema %v %v", ok, cs)
	}
	cs, ok = ConsumerSchema(Spec{Name: "b", Type: "auth", NewConfig: func() Config { return &schemaConf{} }})
	if !ok || cs["properties"].(map[string]any)["name"] == nil {
		t.Errorf("an auth plugin without a consumer config type: consumer schema %v %v", ok, cs)
	}
}
