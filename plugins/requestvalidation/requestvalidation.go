package requestvalidation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/portico-gw/portico/plugins"
)

// Spec registers request-validation.
var Spec = plugins.Spec{Name: "request-validation", Priority: 2800,
	NewConfig: func() plugins.Config { return new(Config) },
	Build:     func(c plugins.Config) (any, error) { return New(c.(*Config)) }}

// Config is request-validation's configuration, with APISIX's field names.
type Config struct {
	HeaderSchema   json.RawMessage `json:"header_schema,omitempty"`
	BodySchema     json.RawMessage `json:"body_schema,omitempty"`
	MaxReqBodySize *int64          `json:"max_req_body_size,omitempty"` // nil: 64 MiB
	RejectedCode   *int            `json:"rejected_code,omitempty"`     // nil: 400
	RejectedMsg    *string         `json:"rejected_msg,omitempty"`
}

const defaultMaxBody = 64 << 20

// UnmarshalJSON decodes strictly and words type errors as APISIX's schema check does.
func (c *Config) UnmarshalJSON(b []byte) error {
	type plain Config
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p plain
	if err := dec.Decode(&p); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return fmt.Errorf(`property %q validation failed: wrong type: expected %s, got %s`, te.Field, jsonType(te.Type), te.Value)
		}
		return err
	}
	*c = Config(p)
	return nil
}

func jsonType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Int, reflect.Int64:
		return "integer"
	}
	return "object"
}

// Validate names the bad field; admin adds APISIX's error prefix.
func (c *Config) Validate() error {
	if c.HeaderSchema == nil && c.BodySchema == nil {
		return errors.New(`object matches none of the required: ["header_schema"] or ["body_schema"]`)
	}
	if c.MaxReqBodySize != nil && *c.MaxReqBodySize < 1 {
		return fmt.Errorf(`property "max_req_body_size" validation failed: expected %d to be at least 1`, *c.MaxReqBodySize)
	}
	if r := c.RejectedCode; r != nil && (*r < 200 || *r > 599) {
		if *r < 200 {
			return fmt.Errorf(`property "rejected_code" validation failed: expected %d to be at least 200`, *r)
		}
		return fmt.Errorf(`property "rejected_code" validation failed: expected %d to be at most 599`, *r)
	}
	if m := c.RejectedMsg; m != nil {
		if n := utf8.RuneCountInString(*m); n < 1 {
			return errors.New(`property "rejected_msg" validation failed: string too short, expected at least 1, got 0`)
		} else if n > 256 {
			return fmt.Errorf(`property "rejected_msg" validation failed: string too long, expected at most 256, got %d`, n)
		}
	}
	for _, s := range []struct {
		name string
		raw  json.RawMessage
	}{{"header_schema", c.HeaderSchema}, {"body_schema", c.BodySchema}} {
		if s.raw == nil {
			continue
		}
		if _, err := compile(s.name, s.raw); err != nil {
			return err
		}
	}
	return nil
}

// compile compiles one schema: draft 7 by default, draft 4 when only draft 4 accepts it;
// no external reference is ever loaded.
func compile(name string, raw json.RawMessage) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("property %q validation failed: %v", name, err)
	}
	if _, ok := doc.(map[string]any); !ok {
		return nil, fmt.Errorf("property %q validation failed: wrong type: expected object, got %s", name, kindOf(doc))
	}
	var first error
	for _, draft := range []*jsonschema.Draft{jsonschema.Draft7, jsonschema.Draft4} {
		sch, err := compileDraft(name, doc, draft)
		if err == nil {
			return sch, nil
		}
		if first == nil {
			first = err
		}
	}
	msg := strings.ReplaceAll(first.Error(), `"`+schemaURL(name)+`#" `, "schema ")
	return nil, fmt.Errorf("invalid %s: %s", name, oneLine(msg))
}

// oneLine joins the library's indented multi-line report into one line.
func oneLine(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimLeft(strings.TrimSpace(l), "- ")
	}
	return strings.Join(lines, "; ")
}

func compileDraft(name string, doc any, draft *jsonschema.Draft) (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(draft)
	c.UseLoader(jsonschema.SchemeURLLoader{}) // refuse every external $ref
	loc := schemaURL(name)
	if err := c.AddResource(loc, doc); err != nil {
		return nil, err
	}
	return c.Compile(loc)
}

func schemaURL(name string) string { return "urn:portico:request-validation:" + name }

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number:
		return "number"
	case []any:
		return "array"
	}
	return "object"
}

// Plugin is built once per snapshot; nothing is parsed per request.
type Plugin struct {
	header, body *jsonschema.Schema
	maxBody      int64
	code         int
	msg          []byte // nil: the error text, or no body
	log          *slog.Logger
}

// New compiles the schemas.
func New(c *Config) (*Plugin, error) {
	p := &Plugin{maxBody: defaultMaxBody, code: http.StatusBadRequest, log: slog.Default().With("plugin", "request-validation")}
	if c.MaxReqBodySize != nil {
		p.maxBody = *c.MaxReqBodySize
	}
	if c.RejectedCode != nil {
		p.code = *c.RejectedCode
	}
	if c.RejectedMsg != nil {
		p.msg = []byte(*c.RejectedMsg)
	}
	var err error
	if c.HeaderSchema != nil {
		if p.header, err = compile("header_schema", c.HeaderSchema); err != nil {
			return nil, err
		}
	}
	if c.BodySchema != nil {
		if p.body, err = compile("body_schema", c.BodySchema); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// reject refuses with rejected_msg, else with detail (which may be empty: no body).
func (p *Plugin) reject(detail string) plugins.Result {
	if p.msg != nil {
		return plugins.Respond(p.code, p.msg)
	}
	if detail == "" {
		return plugins.Respond(p.code, nil)
	}
	return plugins.Respond(p.code, []byte(detail))
}

// Rewrite validates the headers, then the body.
func (p *Plugin) Rewrite(c *plugins.Ctx) plugins.Result {
	r := c.R
	if p.header != nil {
		if err := p.header.Validate(headerObject(r)); err != nil {
			msg := describe(err)
			p.log.Warn("request header schema validation failed", "err", msg, "route_id", c.RouteID)
			return p.reject(msg)
		}
	}
	if p.body == nil {
		return plugins.Continue
	}
	if r.ContentLength > p.maxBody {
		p.log.Warn("failed to get body", "err", fmt.Sprintf("request size %d is greater than the maximum size %d allowed", r.ContentLength, p.maxBody), "route_id", c.RouteID)
		return p.reject("")
	}
	var raw []byte
	if r.Body != nil && r.Body != http.NoBody {
		var err error
		raw, err = io.ReadAll(io.LimitReader(r.Body, p.maxBody+1))
		if err != nil {
			p.log.Warn("failed to get body", "err", err, "route_id", c.RouteID)
			return p.reject("")
		}
		if int64(len(raw)) > p.maxBody {
			p.log.Warn("failed to get body", "err", fmt.Sprintf("request size %d is greater than the maximum size %d allowed", len(raw), p.maxBody), "route_id", c.RouteID)
			return p.reject("")
		}
	}
	if len(raw) == 0 {
		return p.reject("")
	}
	cts := r.Header["Content-Type"]
	if len(cts) > 1 {
		p.log.Warn("duplicated Content-Type header", "route_id", c.RouteID)
		return p.reject("")
	}
	isForm := len(cts) == 1 && hasPrefixFold(cts[0], "application/x-www-form-urlencoded")
	var doc any
	if isForm {
		doc = decodeArgs(raw)
	} else {
		var err error
		if doc, err = jsonschema.UnmarshalJSON(bytes.NewReader(raw)); err != nil {
			msg := "failed to decode the req body: " + err.Error()
			p.log.Warn(msg, "route_id", c.RouteID)
			return p.reject(msg)
		}
	}
	if err := p.body.Validate(doc); err != nil {
		msg := describe(err)
		p.log.Warn("request body schema validation failed", "err", msg, "route_id", c.RouteID)
		return p.reject(msg)
	}
	if !isForm {
		// send what was validated, not what was received
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(doc); err == nil {
			raw = bytes.TrimSuffix(b.Bytes(), []byte("\n"))
		}
	}
	setBody(r, raw)
	return plugins.Continue
}

// setBody puts b back as the request body the upstream gets.
func setBody(r *http.Request, b []byte) {
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	r.ContentLength = int64(len(b))
	r.TransferEncoding = nil
	if _, ok := r.Header["Content-Length"]; ok {
		r.Header["Content-Length"] = []string{strconv.Itoa(len(b))}
	}
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// headerObject is the request's headers as ngx.req.get_headers gives them: lower-cased
// names, a string per header, an array of strings for a repeated one.
func headerObject(r *http.Request) map[string]any {
	obj := make(map[string]any, len(r.Header)+1)
	for k, vs := range r.Header {
		name := strings.ToLower(k)
		switch len(vs) {
		case 0:
		case 1:
			obj[name] = vs[0]
		default:
			arr := make([]any, len(vs))
			for i, v := range vs {
				arr[i] = v
			}
			obj[name] = arr
		}
	}
	if _, ok := obj["host"]; !ok && r.Host != "" {
		obj["host"] = r.Host
	}
	return obj
}

// decodeArgs is ngx.decode_args: a value per name, an array for a repeated name, true
// for a name without '='.
func decodeArgs(b []byte) map[string]any {
	obj := map[string]any{}
	for _, pair := range strings.Split(string(b), "&") {
		if pair == "" {
			continue
		}
		k, v, hasValue := strings.Cut(pair, "=")
		k = unescape(k)
		var val any = true
		if hasValue {
			val = unescape(v)
		}
		switch prev := obj[k].(type) {
		case nil:
			obj[k] = val
		case []any:
			obj[k] = append(prev, val)
		default:
			obj[k] = []any{prev, val}
		}
	}
	return obj
}

func unescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// describe words the first failure as APISIX's validator does, e.g.
// `property "a" validation failed: property "b" is required`.
func describe(err error) string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err.Error()
	}
	for len(ve.Causes) > 0 {
		ve = ve.Causes[0]
	}
	var b strings.Builder
	for _, tok := range ve.InstanceLocation {
		if n, err := strconv.Atoi(tok); err == nil {
			fmt.Fprintf(&b, "failed to validate item %d: ", n+1)
		} else {
			fmt.Fprintf(&b, "property %q validation failed: ", tok)
		}
	}
	b.WriteString(kindMessage(ve))
	return b.String()
}
