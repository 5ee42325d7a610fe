package plugins

import (
	"reflect"
	"strings"
)

// Schema describes a plugin's config as a JSON schema, with the injected `_meta` property
// APISIX adds to every plugin schema.
func Schema(s Spec) map[string]any {
	sch := typeSchema(reflect.TypeOf(s.NewConfig()))
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

func typeSchema(t reflect.Type) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 && t.Name() == "RawMessage" {
			return map[string]any{}
		}
		return map[string]any{"type": "array", "items": typeSchema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": typeSchema(t.Elem())}
	case reflect.Struct:
		props := map[string]any{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			props[name] = typeSchema(f.Type)
		}
		return map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	}
	return map[string]any{}
}
