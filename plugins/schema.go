package plugins

import (
	"reflect"

	"github.com/portico-gw/portico/internal/typeschema"
)

// Schema describes a plugin's config as a JSON schema, with the injected `_meta` property
// APISIX adds to every plugin schema.
func Schema(s Spec) map[string]any {
	return withMeta(typeschema.Of(reflect.TypeOf(s.NewConfig())))
}

// ConsumerSchema describes what an auth plugin's config on a consumer or a credential
// holds (APISIX's consumer_schema); false for a plugin that has none (not auth).
func ConsumerSchema(s Spec) (map[string]any, bool) {
	if s.Type != "auth" {
		return nil, false
	}
	newCfg := s.NewConfig
	if s.NewConsumerConfig != nil {
		newCfg = s.NewConsumerConfig
	}
	return withMeta(typeschema.Of(reflect.TypeOf(newCfg()))), true
}

func withMeta(sch map[string]any) map[string]any {
	props, _ := sch["properties"].(map[string]any)
	if props == nil {
		props = map[string]any{}
		sch["properties"] = props
	}
	props["_meta"] = map[string]any{
		"type":                 "object",
		"additionalProperties": false,
		"properties": map[string]any{
			"disable":        map[string]any{"type": "boolean"},
			"priority":       map[string]any{"type": "integer"},
			"filter":         map[string]any{"type": []string{"array", "string"}},
			"error_response": map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "object"}}},
			"pre_function":   map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "object"}}},
		},
	}
	sch["$comment"] = "this is a mark for our injected plugin schema"
	return sch
}
