package mocking

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portico-gw/portico/plugins"
)

// Spec registers mocking.
var Spec = plugins.Spec{Name: "mocking", Priority: 10900,
	NewConfig: func() plugins.Config { return new(Config) },
	Build:     func(c plugins.Config) (any, error) { return New(c.(*Config)) }}

// MockBy is the x-mock-by header value.
const MockBy = "Portico"

// Config is mocking's configuration.
type Config struct {
	Delay           int                        `json:"delay,omitempty"`           // seconds
	ResponseStatus  *int                       `json:"response_status,omitempty"` // ≥ 100; nil: 200
	ContentType     *string                    `json:"content_type,omitempty"`    // nil: "application/json;charset=utf8"
	ResponseExample *string                    `json:"response_example,omitempty"`
	ResponseSchema  json.RawMessage            `json:"response_schema,omitempty"`
	WithMockHeader  *bool                      `json:"with_mock_header,omitempty"` // nil: true
	ResponseHeaders map[string]json.RawMessage `json:"response_headers,omitempty"` // string or number values
}

const defaultContentType = "application/json;charset=utf8"

var supported = map[string]bool{"application/xml": true, "application/json": true, "text/plain": true, "text/html": true, "text/xml": true}

// mediaType is APISIX's parse_content_type: the part before the last ';'.
func mediaType(ct string) string {
	if i := strings.LastIndexByte(ct, ';'); i >= 0 {
		for j := 0; j < len(ct); j++ {
			if ct[j] < ' ' || ct[j] > '~' {
				return ct
			}
		}
		return ct[:i]
	}
	return ct
}

// Validate names the bad field; admin adds APISIX's error prefix.
func (c *Config) Validate() error {
	if c.ResponseStatus != nil && *c.ResponseStatus < 100 {
		return fmt.Errorf(`property "response_status" validation failed: expected %d to be at least 100`, *c.ResponseStatus)
	}
	if c.Delay < 0 {
		return fmt.Errorf(`property "delay" validation failed: expected %d to be at least 0`, c.Delay)
	}
	if c.ResponseSchema != nil {
		if _, err := compileSchema(c.ResponseSchema); err != nil {
			return fmt.Errorf(`property "response_schema" validation failed: %v`, err)
		}
	}
	if c.ResponseHeaders != nil && len(c.ResponseHeaders) == 0 {
		return errors.New(`property "response_headers" validation failed: expect object to have at least 1 properties`)
	}
	for k, v := range c.ResponseHeaders {
		if k == "" || strings.IndexByte(k, ':') >= 0 {
			return fmt.Errorf(`property "response_headers" validation failed: additional properties forbidden, found %s`, k)
		}
		if _, err := headerValue(v); err != nil {
			return fmt.Errorf(`property "response_headers" validation failed: property %q validation failed: %v`, k, err)
		}
	}
	if c.ResponseExample == nil && c.ResponseSchema == nil {
		return errors.New("value should match at least one schema, but matches none")
	}
	ct := defaultContentType
	if c.ContentType != nil {
		ct = *c.ContentType
	}
	typ := mediaType(ct)
	if !supported[typ] {
		return errors.New("unsupported content type!")
	}
	if c.ResponseExample == nil && typ != "application/json" && typ != "text/plain" {
		return fmt.Errorf("response_schema with content_type %s is not supported: use application/json, text/plain or response_example", typ)
	}
	return nil
}

func headerValue(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String(), nil
	}
	return "", errors.New("value should match only one schema, but matches none")
}

type header struct {
	name  string
	value *plugins.Template
}

// Plugin is built once per snapshot; nothing is parsed per request.
type Plugin struct {
	status      int
	contentType string
	delay       time.Duration
	mockHeader  bool
	headers     []header
	example     *plugins.Template // nil: generate from gen
	gen         *node
}

// New builds the instance from a validated config.
func New(c *Config) (*Plugin, error) {
	p := &Plugin{status: 200, contentType: defaultContentType, delay: time.Duration(c.Delay) * time.Second, mockHeader: true}
	if c.ResponseStatus != nil {
		p.status = *c.ResponseStatus
	}
	if c.ContentType != nil {
		p.contentType = *c.ContentType
	}
	if c.WithMockHeader != nil {
		p.mockHeader = *c.WithMockHeader
	}
	names := make([]string, 0, len(c.ResponseHeaders))
	for k := range c.ResponseHeaders {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		v, err := headerValue(c.ResponseHeaders[k])
		if err != nil {
			return nil, fmt.Errorf("response_headers %s: %w", k, err)
		}
		p.headers = append(p.headers, header{name: k, value: plugins.CompileTemplate(v)})
	}
	if c.ResponseExample != nil {
		p.example = plugins.CompileTemplate(*c.ResponseExample)
		return p, nil
	}
	var err error
	if p.gen, err = compileSchema(c.ResponseSchema); err != nil {
		return nil, fmt.Errorf("response_schema: %w", err)
	}
	return p, nil
}

// Access answers the request.
func (p *Plugin) Access(c *plugins.Ctx) plugins.Result {
	h := c.W.Header()
	h.Set("Content-Type", p.contentType)
	if p.mockHeader {
		h.Set("X-Mock-By", MockBy)
	}
	for _, hd := range p.headers {
		h.Add(hd.name, hd.value.Render(c))
	}
	if p.delay > 0 {
		t := time.NewTimer(p.delay)
		select {
		case <-t.C:
		case <-c.R.Context().Done():
			t.Stop()
		}
	}
	var body []byte
	if p.example != nil {
		body = []byte(p.example.Render(c))
	} else {
		body = p.gen.appendJSON(make([]byte, 0, 256))
	}
	return plugins.Respond(p.status, body)
}

var _ plugins.AccessPhase = (*Plugin)(nil)

// node is a compiled JSON schema, as mocking's generator reads one: type, example,
// properties, items.
type node struct {
	typ     string
	example any // a value of the right kind, or nil
	props   []prop
	items   *node
}

type prop struct {
	key  []byte // JSON-encoded key
	node *node
}

type rawSchema struct {
	Type       any                        `json:"type"`
	Example    json.RawMessage            `json:"example"`
	Properties map[string]json.RawMessage `json:"properties"`
	Items      json.RawMessage            `json:"items"`
}

func compileSchema(raw json.RawMessage) (*node, error) {
	var s rawSchema
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, errors.New("wrong type: expected object")
	}
	n := &node{}
	if t, ok := s.Type.(string); ok {
		n.typ = strings.ToLower(t)
	}
	if len(s.Example) > 0 {
		var v any
		dec := json.NewDecoder(bytes.NewReader(s.Example))
		dec.UseNumber()
		if dec.Decode(&v) == nil {
			n.example = v
		}
	}
	keys := make([]string, 0, len(s.Properties))
	for k := range s.Properties {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		child, err := compileSchema(s.Properties[k])
		if err != nil {
			return nil, fmt.Errorf("properties.%s: %w", k, err)
		}
		kb, _ := json.Marshal(k)
		n.props = append(n.props, prop{key: kb, node: child})
	}
	if len(s.Items) > 0 && string(bytes.TrimSpace(s.Items)) != "null" {
		child, err := compileSchema(s.Items)
		if err != nil {
			return nil, fmt.Errorf("items: %w", err)
		}
		n.items = child
	}
	return n, nil
}

// appendJSON writes an object from n's properties (mocking's gen_object: the top level
// is always an object). A property that generates nothing (an unknown type, an array
// without items) is left out, as a nil in a Lua table is.
func (n *node) appendJSON(b []byte) []byte {
	b = append(b, '{')
	first := true
	for _, p := range n.props {
		if p.node.isNil() {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, p.key...)
		b = append(b, ':')
		b = p.node.appendValue(b)
	}
	return append(b, '}')
}

func (n *node) isNil() bool {
	switch n.typ {
	case "object", "string", "number", "integer", "boolean":
		return false
	case "array":
		return n.items == nil
	}
	return true
}

func (n *node) appendValue(b []byte) []byte {
	switch n.typ {
	case "object":
		return n.appendJSON(b)
	case "array":
		if n.items == nil {
			return append(b, "null"...)
		}
		b = append(b, '[')
		if n.items.isNil() {
			return append(b, ']')
		}
		for i, k := 0, mrand.IntN(3)+1; i < k; i++ {
			if i > 0 {
				b = append(b, ',')
			}
			b = n.items.appendValue(b)
		}
		return append(b, ']')
	case "string":
		if s, ok := n.example.(string); ok {
			e, _ := json.Marshal(s)
			return append(b, e...)
		}
		b = append(b, '"')
		for i, k := 0, mrand.IntN(10)+1; i < k; i++ {
			b = append(b, byte('a'+mrand.IntN(26)))
		}
		return append(b, '"')
	case "number":
		if x, ok := n.example.(json.Number); ok {
			return append(b, x...)
		}
		return strconv.AppendFloat(b, mrand.Float64()*10000, 'g', 14, 64)
	case "integer":
		if x, ok := n.example.(json.Number); ok {
			if f, err := x.Float64(); err == nil {
				return strconv.AppendFloat(b, math.Floor(f), 'f', -1, 64)
			}
		}
		return strconv.AppendInt(b, int64(mrand.IntN(10000)+1), 10)
	case "boolean":
		if x, ok := n.example.(bool); ok {
			return strconv.AppendBool(b, x)
		}
		return strconv.AppendBool(b, mrand.IntN(2) == 1)
	}
	return append(b, "null"...)
}
