package typeschema

import (
	"encoding/json"
	"reflect"
	"strings"
)

var unmarshaler = reflect.TypeFor[json.Unmarshaler]()

// Of is the JSON schema of values of t.
func Of(t reflect.Type) map[string]any {
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
		return map[string]any{"type": "array", "items": Of(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": Of(t.Elem())}
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
		props[name] = Of(f.Type)
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
