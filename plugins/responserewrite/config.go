package responserewrite

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/portico-gw/portico/plugins/condition"
	"github.com/portico-gw/portico/plugins/internal/regexsub"
)

// Config is response-rewrite's configuration, with APISIX's field names.
type Config struct {
	StatusCode      *int            `json:"status_code,omitempty"`
	Body            *string         `json:"body,omitempty"`
	BodyBase64      bool            `json:"body_base64,omitempty"`
	Headers         *Headers        `json:"headers,omitempty"`
	Vars            json.RawMessage `json:"vars,omitempty"`
	Filters         []Filter        `json:"filters,omitempty"`
	MaxRespBodySize *int            `json:"max_resp_body_size,omitempty"` // nil: 64 MiB
}

// Filter is one regex substitution on the response body.
type Filter struct {
	Regex   *string `json:"regex,omitempty"`
	Scope   *string `json:"scope,omitempty"` // "once" (nil) or "global"
	Replace *string `json:"replace,omitempty"`
	Options *string `json:"options,omitempty"` // nil: "jo"
}

const defaultMaxBody = 64 << 20

// UnmarshalJSON decodes strictly and words type errors as APISIX's schema check does.
func (c *Config) UnmarshalJSON(b []byte) error {
	type plain Config
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p plain
	if err := dec.Decode(&p); err != nil {
		return schemaError(err)
	}
	*c = Config(p)
	return nil
}

// schemaError turns a json type error into `property "x" validation failed: wrong type`.
func schemaError(err error) error {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) || te.Field == "" {
		return err
	}
	return fmt.Errorf(`property %q validation failed: wrong type: expected %s, got %s`, te.Field, jsonType(te.Type), te.Value)
}

func jsonType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "integer"
	case reflect.Float64, reflect.Float32:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	}
	return "object"
}

// Headers is either {"add": ["Name: value", …], "set": {name: value}, "remove": [names]}
// or the legacy flat map of name → value, which means set.
type Headers struct {
	Add    []string
	Set    map[string]HeaderValue
	Remove []string
	// Flat is the legacy form; nil for the other one.
	Flat map[string]HeaderValue
}

type headersNew struct {
	Add    []string               `json:"add,omitempty"`
	Set    map[string]HeaderValue `json:"set,omitempty"`
	Remove []string               `json:"remove,omitempty"`
}

var errHeadersSchema = errors.New(`property "headers" validation failed: object matches none of the required`)

// UnmarshalJSON tells the two forms apart as APISIX does: the new one when add, set or
// remove holds an array or an object.
func (h *Headers) UnmarshalJSON(b []byte) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil || fields == nil {
		return errors.New(`property "headers" validation failed: wrong type: expected object`)
	}
	isNew := false
	for _, k := range []string{"add", "set", "remove"} {
		if t := bytes.TrimSpace(fields[k]); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
			isNew = true
		}
	}
	*h = Headers{}
	if !isNew {
		h.Flat = make(map[string]HeaderValue, len(fields))
		for k, raw := range fields {
			var v HeaderValue
			if err := json.Unmarshal(raw, &v); err != nil {
				return errors.New("invalid type as header value")
			}
			h.Flat[k] = v
		}
		return nil
	}
	var n headersNew
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&n); err != nil {
		if strings.Contains(err.Error(), "unknown field") {
			return fmt.Errorf(`property "headers" validation failed: %v (add, set and remove cannot be mixed with flat headers)`, err)
		}
		return errHeadersSchema
	}
	if (n.Add != nil && len(n.Add) == 0) || (n.Set != nil && len(n.Set) == 0) || (n.Remove != nil && len(n.Remove) == 0) {
		return errHeadersSchema
	}
	h.Add, h.Set, h.Remove = n.Add, n.Set, n.Remove
	return nil
}

// MarshalJSON writes the form that was read.
func (h Headers) MarshalJSON() ([]byte, error) {
	if h.Flat != nil {
		return json.Marshal(h.Flat)
	}
	return json.Marshal(headersNew{Add: h.Add, Set: h.Set, Remove: h.Remove})
}

// HeaderValue is a string or a number (kept as Lua prints it).
type HeaderValue string

// UnmarshalJSON reads a string or a number.
func (v *HeaderValue) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*v = HeaderValue(s)
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return errors.New("wrong type: expected string or number")
	}
	*v = HeaderValue(strconv.FormatFloat(f, 'g', 14, 64)) // Lua's %.14g
	return nil
}

var (
	// addSchema is APISIX's schema pattern for an `add` item; addParse is the pattern it
	// parses the item with at request time (an item failing it disables every header op).
	addSchema = regexp.MustCompile(`^[^:]+:[^:]*[^/]$`)
	addParse  = regexp.MustCompile(`^([^:\s]+)\s*:\s*([^:]+)$`)
)

// Validate names the bad field; admin adds APISIX's error prefix.
func (c *Config) Validate() error {
	if c.MaxRespBodySize != nil && *c.MaxRespBodySize < 1 {
		return fmt.Errorf(`property "max_resp_body_size" validation failed: expected %d to be at least 1`, *c.MaxRespBodySize)
	}
	if s := c.StatusCode; s != nil {
		if *s < 200 {
			return fmt.Errorf(`property "status_code" validation failed: expected %d to be at least 200`, *s)
		}
		if *s > 598 {
			return fmt.Errorf(`property "status_code" validation failed: expected %d to be at most 598`, *s)
		}
	}
	if c.Filters != nil && len(c.Filters) == 0 {
		return errors.New(`property "filters" validation failed: expect array to have at least 1 items`)
	}
	for i, f := range c.Filters {
		if err := f.validate(); err != nil {
			return fmt.Errorf(`property "filters" validation failed: failed to validate item %d: %w`, i+1, err)
		}
	}
	if c.Body != nil && c.Filters != nil {
		return errors.New(`failed to validate dependent schema for "body": value wasn't supposed to match schema`)
	}
	if err := c.Headers.validate(); err != nil {
		return err
	}
	if c.BodyBase64 {
		if c.Body == nil || *c.Body == "" {
			return errors.New("invalid base64 content")
		}
		if _, err := decodeBase64(*c.Body); err != nil {
			return errors.New("invalid base64 content")
		}
	}
	if t := bytes.TrimSpace(c.Vars); len(t) > 0 && string(t) != "null" {
		if t[0] != '[' && t[0] != '"' {
			return errors.New(`property "vars" validation failed: wrong type: expected array`)
		}
		if _, err := condition.Compile(c.Vars); err != nil {
			return fmt.Errorf("failed to validate the 'vars' expression: %v", err)
		}
	}
	for _, f := range c.Filters {
		if _, err := regexsub.CompileRegex(*f.Regex, f.options()); err != nil {
			return fmt.Errorf("regex %q validation failed: %v", *f.Regex, err)
		}
		if _, err := regexsub.Compile(*f.Replace); err != nil {
			return fmt.Errorf("replace %q validation failed: %v", *f.Replace, err)
		}
	}
	return nil
}

func (f *Filter) validate() error {
	if f.Regex == nil {
		return errors.New(`property "regex" is required`)
	}
	if f.Replace == nil {
		return errors.New(`property "replace" is required`)
	}
	if *f.Regex == "" {
		return errors.New(`property "regex" validation failed: string too short, expected at least 1, got 0`)
	}
	if f.Scope != nil && *f.Scope != "once" && *f.Scope != "global" {
		return errors.New(`property "scope" validation failed: matches none of the enum values`)
	}
	return nil
}

func (f *Filter) options() string {
	if f.Options == nil {
		return "jo"
	}
	return *f.Options
}

func (h *Headers) validate() error {
	if h == nil {
		return nil
	}
	if h.Flat != nil {
		for name, v := range h.Flat {
			if name == "" {
				return errors.New("invalid field length in header")
			}
			if err := checkName(name); err != nil {
				return err
			}
			if err := checkValue(name, string(v)); err != nil {
				return err
			}
		}
		return nil
	}
	for _, item := range h.Add {
		if !addSchema.MatchString(item) {
			return errHeadersSchema
		}
		m := addParse.FindStringSubmatch(item)
		if m == nil {
			return fmt.Errorf(`property "headers" validation failed: add item %q is not "Name: value" with a value free of ':'`, item)
		}
		if err := checkName(m[1]); err != nil {
			return err
		}
		if err := checkValue(m[1], m[2]); err != nil {
			return err
		}
	}
	for name, v := range h.Set {
		if name == "" || strings.IndexByte(name, ':') >= 0 {
			return errHeadersSchema
		}
		if err := checkName(name); err != nil {
			return err
		}
		if err := checkValue(name, string(v)); err != nil {
			return err
		}
	}
	for _, name := range h.Remove {
		if name == "" || strings.IndexByte(name, ':') >= 0 {
			return errHeadersSchema
		}
		if err := checkName(name); err != nil {
			return err
		}
	}
	return nil
}

// checkName refuses what is not an HTTP token.
func checkName(name string) error {
	for i := 0; i < len(name); i++ {
		if b := name[i]; b <= ' ' || b >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, b) >= 0 {
			return fmt.Errorf("invalid field character in header %q", name)
		}
	}
	return nil
}

func checkValue(name, v string) error {
	if strings.ContainsFunc(v, isCTL) {
		return fmt.Errorf("invalid value character in header %q", name)
	}
	return nil
}

func isCTL(r rune) bool { return (r < 0x20 && r != '\t') || r == 0x7f }

// decodeBase64 is nginx's ngx_decode_base64 as ngx.decode_base64 uses it: standard
// alphabet, padding optional, anything from the first '=' on ignored.
func decodeBase64(s string) ([]byte, error) {
	if i := strings.IndexByte(s, '='); i >= 0 {
		s = s[:i]
	}
	if len(s)%4 == 1 {
		return nil, errors.New("invalid base64 length")
	}
	return base64.RawStdEncoding.DecodeString(s)
}
