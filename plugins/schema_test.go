package plugins

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

type schemaBatch struct {
	BatchMaxSize int `json:"batch_max_size"`
	Name         string
}

type schemaFlex int

func (f *schemaFlex) UnmarshalJSON([]byte) error { return nil }

type schemaConf struct {
	schemaBatch            // lends batch_max_size and Name
	*schemaPtrEmbed        // a pointer, too
	Name            string `json:"name"`
	Flex            schemaFlex
	Timeout         time.Duration `json:"-"`
	unexported      int
	Tags            []string          `json:"tags,omitempty"`
	Headers         map[string]string `json:"headers"`
}

type schemaPtrEmbed struct {
	URI string `json:"uri"`
}

func (*schemaConf) Validate() error { return nil }

// TestSchema: the schema lists the fields Decode accepts, embedded structs flattened as
// encoding/json does, and nothing else.
func TestSchema(t *testing.T) {
	sch := Schema(Spec{Name: "x", NewConfig: func() Config { return &schemaConf{} }})
	props := sch["properties"].(map[string]any)
	var names []string
	for k := range props {
		names = append(names, k)
	}
	slices.Sort(names)
	if got := strings.Join(names, " "); got != "Flex Name _meta batch_max_size headers name tags uri" {
		t.Errorf("properties %s", got)
	}
	tests := []struct{ prop, want string }{
		{"batch_max_size", `{"type":"integer"}`},
		{"uri", `{"type":"string"}`},
		{"Flex", `{}`}, // its own UnmarshalJSON
		{"tags", `{"items":{"type":"string"},"type":"array"}`},
		{"headers", `{"additionalProperties":{"type":"string"},"type":"object"}`},
	}
	for _, tt := range tests {
		if b, _ := json.Marshal(props[tt.prop]); string(b) != tt.want {
			t.Errorf("%s: %s, want %s", tt.prop, b, tt.want)
		}
	}
	if _, ok := ConsumerSchema(Spec{Name: "x", NewConfig: func() Config { return &schemaConf{} }}); ok {
		t.Error("a plugin that is not auth has a consumer schema")
	}
	cs, ok := ConsumerSchema(Spec{Name: "a", Type: "auth", NewConfig: func() Config { return &schemaConf{} },
		NewConsumerConfig: func() Config { return &schemaConsumer{} }})
	if b, _ := json.Marshal(cs["properties"].(map[string]any)["key"]); !ok || string(b) != `{"type":"string"}` {
		t.Errorf("consumer schema %v %v", ok, cs)
	}
}

type schemaConsumer struct {
	Key string `json:"key"`
}

func (*schemaConsumer) Validate() error { return nil }
