package gzip

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/portico-gw/portico/plugins"
)

// Spec registers gzip.
var Spec = plugins.Spec{Name: "gzip", Priority: 995,
	NewConfig: func() plugins.Config { return new(Config) },
	Build:     func(c plugins.Config) (any, error) { return New(c.(*Config)) }}

// Config is gzip's configuration, with APISIX's field names.
type Config struct {
	Types       *Types   `json:"types,omitempty"`        // nil: ["text/html"]
	MinLength   *int     `json:"min_length,omitempty"`   // nil: 20
	CompLevel   *int     `json:"comp_level,omitempty"`   // nil: 1
	HTTPVersion *float64 `json:"http_version,omitempty"` // nil: 1.1
	Buffers     *Buffers `json:"buffers,omitempty"`
	Vary        *bool    `json:"vary,omitempty"`
}

// Buffers is nginx's gzip_buffers; accepted for compatibility, unused.
type Buffers struct {
	Number *int `json:"number,omitempty"` // nil: 32
	Size   *int `json:"size,omitempty"`   // nil: 4096
}

// Types is "*" (every type) or a list of MIME types.
type Types struct {
	All  bool
	List []string
}

var errTypes = errors.New(`property "types" validation failed: object matches none of the required`)

// UnmarshalJSON reads "*" or an array of strings.
func (t *Types) UnmarshalJSON(b []byte) error {
	*t = Types{}
	var s string
	if json.Unmarshal(b, &s) == nil {
		if s != "*" {
			return errTypes
		}
		t.All = true
		return nil
	}
	if err := json.Unmarshal(b, &t.List); err != nil || t.List == nil {
		return errTypes
	}
	return nil
}

// MarshalJSON writes "*" or the list.
func (t Types) MarshalJSON() ([]byte, error) {
	if t.All {
		return []byte(`"*"`), nil
	}
	return json.Marshal(t.List)
}

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
	case reflect.Bool:
		return "boolean"
	case reflect.Int:
		return "integer"
	case reflect.Float64:
		return "number"
	case reflect.Slice:
		return "array"
	}
	return "object"
}

// Validate names the bad field; admin adds APISIX's error prefix.
func (c *Config) Validate() error {
	if t := c.Types; t != nil && !t.All {
		if len(t.List) == 0 {
			return errTypes
		}
		for _, s := range t.List {
			if s == "" {
				return errTypes
			}
		}
	}
	if err := atLeast("min_length", c.MinLength, 1); err != nil {
		return err
	}
	if err := atLeast("comp_level", c.CompLevel, 1); err != nil {
		return err
	}
	if c.CompLevel != nil && *c.CompLevel > 9 {
		return fmt.Errorf(`property "comp_level" validation failed: expected %d to be at most 9`, *c.CompLevel)
	}
	if v := c.HTTPVersion; v != nil && *v != 1.1 && *v != 1.0 {
		return errors.New(`property "http_version" validation failed: matches none of the enum values`)
	}
	if b := c.Buffers; b != nil {
		for _, f := range []struct {
			name string
			v    *int
		}{{"number", b.Number}, {"size", b.Size}} {
			if err := atLeast(f.name, f.v, 1); err != nil {
				return fmt.Errorf(`property "buffers" validation failed: %w`, err)
			}
		}
	}
	return nil
}

func atLeast(name string, v *int, min int) error {
	if v != nil && *v < min {
		return fmt.Errorf(`property %q validation failed: expected %d to be at least %d`, name, *v, min)
	}
	return nil
}

// Plugin is built once per snapshot; nothing is parsed per request.
type Plugin struct {
	all       bool
	types     []string
	minLength int64
	version   int // http_version × 10
	vary      bool
	pool      *sync.Pool // of *stream at this level
}

// stream is one response's compressor; the writer appends to out.
type stream struct {
	zw  *gzip.Writer
	out sink
}

// sink collects what the writer produced for the current chunk in a fresh slice, so a
// returned chunk is never overwritten by the next one.
type sink struct{ b []byte }

func (s *sink) Write(p []byte) (int, error) {
	s.b = append(s.b, p...)
	return len(p), nil
}

// pools holds one pool of streams per compression level, shared by every Plugin.
var pools [10]sync.Pool

func init() {
	for lvl := 1; lvl <= 9; lvl++ {
		pools[lvl].New = func() any {
			s := &stream{}
			s.zw, _ = gzip.NewWriterLevel(&s.out, lvl)
			return s
		}
	}
}

// New applies the defaults.
func New(c *Config) (*Plugin, error) {
	p := &Plugin{types: []string{"text/html"}, minLength: 20, version: 11}
	if c.Types != nil {
		p.all, p.types = c.Types.All, c.Types.List
	}
	if c.MinLength != nil {
		p.minLength = int64(*c.MinLength)
	}
	lvl := 1
	if c.CompLevel != nil {
		lvl = *c.CompLevel
	}
	if lvl < 1 || lvl > 9 {
		return nil, fmt.Errorf("comp_level %d out of range", lvl)
	}
	p.pool = &pools[lvl]
	if c.HTTPVersion != nil && *c.HTTPVersion == 1.0 {
		p.version = 10
	}
	p.vary = c.Vary != nil && *c.Vary
	return p, nil
}

// HeaderFilter decides whether this response is compressed.
func (p *Plugin) HeaderFilter(c *plugins.Ctx) {
	p.release(c) // a stale stream of an earlier request on this pooled Ctx
	h := c.W.Header()
	ct := h.Get("Content-Type")
	if ct == "" || !p.typeMatches(ct) {
		return
	}
	if cl := h.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(strings.TrimSpace(cl), 10, 64); err == nil && n < p.minLength {
			return
		}
	}
	r := c.R
	if r.ProtoMajor*10+r.ProtoMinor < p.version {
		return
	}
	if p.vary && !headerHasToken(h, "Vary", "Accept-Encoding") {
		h["Vary"] = append(h["Vary"], "Accept-Encoding")
	}
	// nginx's gzip filter
	switch c.Status {
	case http.StatusOK, http.StatusForbidden, http.StatusNotFound:
	default:
		return
	}
	if h.Get("Content-Encoding") != "" || r.Method == http.MethodHead || !acceptsGzip(r.Header) || len(r.Header["Via"]) > 0 {
		return
	}
	h["Content-Encoding"] = []string{"gzip"}
	delete(h, "Content-Length")
	delete(h, "Accept-Ranges")
	if et := h.Get("Etag"); strings.HasPrefix(et, `"`) {
		h["Etag"] = []string{"W/" + et}
	}
	s := p.pool.Get().(*stream)
	s.out.b = nil
	s.zw.Reset(&s.out)
	c.SetPluginState(p, s)
}

func (p *Plugin) typeMatches(ct string) bool {
	if p.all {
		return true
	}
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.TrimSpace(ct)
	for _, t := range p.types {
		if strings.EqualFold(ct, t) {
			return true
		}
	}
	return false
}

// BodyFilter compresses one chunk; the last call closes the stream.
func (p *Plugin) BodyFilter(c *plugins.Ctx, chunk []byte, eof bool) []byte {
	s, _ := c.PluginState(p).(*stream)
	if s == nil {
		return chunk
	}
	s.out.b = nil
	if len(chunk) > 0 {
		s.zw.Write(chunk) // the sink never fails
	}
	if eof {
		s.zw.Close()
		out := s.out.b
		p.release(c)
		return out
	}
	if len(chunk) > 0 {
		s.zw.Flush()
	}
	out := s.out.b
	s.out.b = nil
	return out
}

// Log returns the stream of a response that ended before its last chunk.
func (p *Plugin) Log(c *plugins.Ctx) { p.release(c) }

// release returns this response's stream, if any, to the pool; the stream is kept in
// the Ctx's plugin state under p between HeaderFilter and the last BodyFilter.
func (p *Plugin) release(c *plugins.Ctx) {
	if s, _ := c.PluginState(p).(*stream); s != nil {
		c.SetPluginState(p, nil)
		s.out.b = nil
		s.zw.Reset(&s.out)
		p.pool.Put(s)
	}
}

// acceptsGzip reports whether Accept-Encoding lists gzip (or x-gzip) with q > 0.
func acceptsGzip(h http.Header) bool {
	for _, line := range h["Accept-Encoding"] {
		for len(line) > 0 {
			var item string
			item, line, _ = strings.Cut(line, ",")
			name, params, _ := strings.Cut(item, ";")
			name = strings.TrimSpace(name)
			if !strings.EqualFold(name, "gzip") && !strings.EqualFold(name, "x-gzip") {
				continue
			}
			if q, ok := qValue(params); ok && q <= 0 {
				continue
			}
			return true
		}
	}
	return false
}

func qValue(params string) (float64, bool) {
	for _, p := range strings.Split(params, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
			q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0, true
			}
			return q, true
		}
	}
	return 0, false
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h[name] {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

var (
	_ plugins.HeaderFilterPhase = (*Plugin)(nil)
	_ plugins.BodyFilterPhase   = (*Plugin)(nil)
	_ plugins.LogPhase          = (*Plugin)(nil)
)
