package typeschema

import (
	"encoding/json"
	"reflect"
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

// TestOf: the schema lists the fields strict decoding accepts, embedded structs
// flattened as encoding/json does, and nothing else.
func TestOf(t *testing.T) {
	props := Of(reflect.TypeFor[schemaConf]())["properties"].(map[string]any)
	var names []string
	for k := range props {
		names = append(names, k)
	}
	slices.Sort(names)
	if got := strings.Join(names, " "); got != "Flex Name batch_max_size headers name tags uri" {
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
}
