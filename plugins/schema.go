package plugins

import (
	"encoding/json"
	"reflect"
	"strings"
)

// Schema describes a plugin's config as a JSON schema, with the injected `_meta` property
// APISIX adds to every plugin schema.
func Schema(s Spec) map[string]any {
	return withMeta(typeSchema(reflect.TypeOf(s.NewConfig())))
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
	return withMeta(typeSchema(reflect.TypeOf(newCfg()))), true
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

var unmarshaler = reflect.TypeFor[json.Unmarshaler]()

func typeSchema(t reflect.Type) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshaler) {
		// decoded by its own rules (a number or a string, a duration, …): any JSON value
		// here, the plugin's check says more
		return map[string]any{}
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
		structProps(t, props)
		return map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	}
	return map[string]any{}
}

// structProps adds t's fields as encoding/json decodes them: an embedded struct without a
// json name lends its fields to the outer object, where a shallower field of the same name
// wins.
func structProps(t reflect.Type, props map[string]any) {
	var embedded []reflect.Type
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				embedded = append(embedded, ft)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = typeSchema(f.Type)
	}
	for _, et := range embedded {
		inner := map[string]any{}
		structProps(et, inner)
		for k, v := range inner {
			if _, set := props[k]; !set {
				props[k] = v
			}
		}
	}
}
