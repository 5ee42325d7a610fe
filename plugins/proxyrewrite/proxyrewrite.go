package proxyrewrite

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/internal/regexsub"
)

// Spec registers proxy-rewrite.
var Spec = plugins.Spec{Name: "proxy-rewrite", Priority: 1008,
	NewConfig: func() plugins.Config { return new(Config) },
	Build:     func(c plugins.Config) (any, error) { return New(c.(*Config)) }}

// Config is proxy-rewrite's configuration, with APISIX's field names.
type Config struct {
	URI                     *string  `json:"uri,omitempty"`
	RegexURI                []string `json:"regex_uri,omitempty"`
	Host                    string   `json:"host,omitempty"`
	Method                  string   `json:"method,omitempty"`
	Headers                 *Headers `json:"headers,omitempty"`
	UseRealRequestURIUnsafe *bool    `json:"use_real_request_uri_unsafe,omitempty"`
}

// Headers is either {"add": {…}, "set": {…}, "remove": […]} or the legacy flat map of
// header → value, which means set.
type Headers struct {
	Add    map[string]HeaderValue `json:"add,omitempty"`
	Set    map[string]HeaderValue `json:"set,omitempty"`
	Remove []string               `json:"remove,omitempty"`
	// Flat is the legacy form.
	Flat map[string]HeaderValue `json:"-"`
}

type headersNew struct {
	Add    map[string]HeaderValue `json:"add,omitempty"`
	Set    map[string]HeaderValue `json:"set,omitempty"`
	Remove []string               `json:"remove,omitempty"`
}

// UnmarshalJSON tells the two forms apart as APISIX does: the new one when add, set or
// remove holds an object or array.
func (h *Headers) UnmarshalJSON(b []byte) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil || fields == nil {
		return errors.New(`property "headers": wrong type: expected object`)
	}
	isNew := false
	for _, k := range []string{"add", "set", "remove"} {
		if raw, ok := fields[k]; ok {
			if t := bytes.TrimSpace(raw); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
				isNew = true
			}
		}
	}
	*h = Headers{}
	if !isNew {
		h.Flat = make(map[string]HeaderValue, len(fields))
		for k, raw := range fields {
			var v HeaderValue
			if err := json.Unmarshal(raw, &v); err != nil || v.Array {
				return fmt.Errorf(`property "headers" validation failed: header %q: value must be a string or a number`, k)
			}
			h.Flat[k] = v
		}
		return nil
	}
	var n headersNew
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&n); err != nil {
		return fmt.Errorf(`property "headers" validation failed: %v`, err)
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

// HeaderValue is a string, a number or (add/set only) an array of them.
type HeaderValue struct {
	Values []string
	Array  bool
}

// UnmarshalJSON reads a string, a number (as Lua prints it) or a non-empty array of them.
func (v *HeaderValue) UnmarshalJSON(b []byte) error {
	*v = HeaderValue{}
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var items []json.RawMessage
		if err := json.Unmarshal(b, &items); err != nil {
			return err
		}
		if len(items) == 0 {
			return errors.New("expected at least 1 item")
		}
		v.Array = true
		for _, it := range items {
			s, err := scalar(it)
			if err != nil {
				return err
			}
			v.Values = append(v.Values, s)
		}
		return nil
	}
	s, err := scalar(b)
	if err != nil {
		return err
	}
	v.Values = []string{s}
	return nil
}

// MarshalJSON writes a string or an array of strings.
func (v HeaderValue) MarshalJSON() ([]byte, error) {
	if v.Array || len(v.Values) != 1 {
		return json.Marshal(v.Values)
	}
	return json.Marshal(v.Values[0])
}

func scalar(raw []byte) (string, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil {
		return "", errors.New("wrong type: expected string or number")
	}
	return strconv.FormatFloat(f, 'g', 14, 64), nil // Lua's %.14g
}

var (
	methods = []string{"GET", "POST", "PUT", "HEAD", "DELETE", "OPTIONS", "MKCOL", "COPY", "MOVE",
		"PROPFIND", "LOCK", "UNLOCK", "PATCH", "TRACE"}
	hostRe = regexp.MustCompile(`^[0-9a-zA-Z-.]+(:\d{1,5})?$`)
)

// Validate names the bad field; admin adds APISIX's error prefix.
func (c *Config) Validate() error {
	if c.URI == nil && c.RegexURI == nil && c.Host == "" && c.Method == "" && c.Headers == nil && c.UseRealRequestURIUnsafe == nil {
		return errors.New("expect object to have at least 1 properties")
	}
	if c.URI != nil {
		if u := *c.URI; u == "" || u[0] != '/' || len(u) > 4096 {
			return fmt.Errorf(`property "uri" validation failed: %q must start with "/" and be at most 4096 bytes`, u)
		}
	}
	if c.RegexURI != nil {
		if len(c.RegexURI) < 2 {
			return errors.New(`property "regex_uri" validation failed: expect array to have at least 2 items`)
		}
		if len(c.RegexURI)%2 != 0 {
			return errors.New("The length of regex_uri should be an even number")
		}
		for i := 0; i < len(c.RegexURI); i += 2 {
			if _, err := regexp.Compile(c.RegexURI[i]); err != nil {
				return fmt.Errorf("invalid regex_uri(%s, %s): %v", c.RegexURI[i], c.RegexURI[i+1], err)
			}
			if _, err := regexsub.Compile(c.RegexURI[i+1]); err != nil {
				return fmt.Errorf("invalid regex_uri(%s, %s): %v", c.RegexURI[i], c.RegexURI[i+1], err)
			}
		}
	}
	if c.Host != "" && !hostRe.MatchString(c.Host) {
		return fmt.Errorf(`property "host" validation failed: failed to match pattern "^[0-9a-zA-Z-.]+(:\\d{1,5})?$" with %q`, c.Host)
	}
	if c.Method != "" && !slices.Contains(methods, c.Method) {
		return errors.New(`property "method" validation failed: matches none of the enum values`)
	}
	if h := c.Headers; h != nil {
		if h.Flat != nil {
			if len(h.Flat) == 0 {
				return errors.New(`property "headers" validation failed: expect object to have at least 1 properties`)
			}
			for name, v := range h.Flat {
				if err := checkName(name); err != nil {
					return err
				}
				for i := 0; i < len(v.Values[0]); i++ {
					if b := v.Values[0][i]; b < 32 || b >= 127 {
						return errors.New("invalid value character in header")
					}
				}
			}
			return nil
		}
		if h.Add == nil && h.Set == nil && h.Remove == nil {
			return errors.New(`property "headers" validation failed: expect object to have at least 1 properties`)
		}
		for what, m := range map[string]map[string]HeaderValue{"add": h.Add, "set": h.Set} {
			if m != nil && len(m) == 0 {
				return fmt.Errorf(`property "headers" validation failed: property %q: expect object to have at least 1 properties`, what)
			}
			for name, v := range m {
				if err := checkName(name); err != nil {
					return err
				}
				for _, s := range v.Values {
					if lit := compileTemplate(s, true).literal(); strings.ContainsFunc(lit, isCTL) {
						return fmt.Errorf("invalid value character in header %q", name)
					}
				}
			}
		}
		if h.Remove != nil && len(h.Remove) == 0 {
			return errors.New(`property "headers" validation failed: property "remove": expect array to have at least 1 items`)
		}
		for _, name := range h.Remove {
			if err := checkName(name); err != nil {
				return err
			}
		}
	}
	return nil
}

func isCTL(r rune) bool { return (r < 0x20 && r != '\t') || r == 0x7f }

// checkName refuses what is not an HTTP token (APISIX: '!'–'~' without ':').
func checkName(name string) error {
	if name == "" {
		return errors.New("invalid field length in header")
	}
	for i := 0; i < len(name); i++ {
		if b := name[i]; b <= 32 || b >= 127 || b == ':' || strings.IndexByte(`"(),/;<=>?@[\]{}`, b) >= 0 {
			return fmt.Errorf("invalid field character in header %q", name)
		}
	}
	return nil
}

type rule struct {
	re  *regexp.Regexp
	rep *regexsub.Replacement
}

type headerOp struct {
	name   string // canonical
	values []*template
	array  bool
}

// Plugin is built once per snapshot; nothing is parsed per request.
type Plugin struct {
	uri        *template
	rules      []rule
	host       string
	method     string
	unsafe     bool
	add, set   []headerOp
	remove     []string
	hasHeaders bool
	log        *slog.Logger
}

// New compiles the templates and regexes.
func New(c *Config) (*Plugin, error) {
	p := &Plugin{host: c.Host, method: c.Method, log: slog.Default().With("plugin", "proxy-rewrite")}
	p.unsafe = c.UseRealRequestURIUnsafe != nil && *c.UseRealRequestURIUnsafe
	if c.URI != nil {
		p.uri = compileTemplate(*c.URI, false)
	} else {
		for i := 0; i+1 < len(c.RegexURI); i += 2 {
			re, err := regexp.Compile(c.RegexURI[i])
			if err != nil {
				return nil, err
			}
			rep, err := regexsub.Compile(c.RegexURI[i+1])
			if err != nil {
				return nil, err
			}
			p.rules = append(p.rules, rule{re: re, rep: rep})
		}
	}
	if h := c.Headers; h != nil {
		p.hasHeaders = true
		set := h.Set
		if h.Flat != nil {
			set = h.Flat
		}
		p.add, p.set = ops(h.Add), ops(set)
		for _, name := range h.Remove {
			p.remove = append(p.remove, http.CanonicalHeaderKey(name))
		}
	}
	return p, nil
}

func ops(m map[string]HeaderValue) []headerOp {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]headerOp, 0, len(m))
	for _, n := range names {
		op := headerOp{name: http.CanonicalHeaderKey(n), array: m[n].Array}
		for _, v := range m[n].Values {
			op.values = append(op.values, compileTemplate(v, true))
		}
		out = append(out, op)
	}
	return out
}

// Rewrite sets the upstream path, host, method and headers.
func (p *Plugin) Rewrite(c *plugins.Ctx) plugins.Result {
	if p.host != "" {
		c.UpstreamHost = p.host
	}
	r := c.R
	upstream := c.Path
	query := ""
	if p.unsafe {
		upstream = r.RequestURI
		if i := strings.IndexByte(upstream, '?'); i >= 0 {
			query = upstream[i:]
		}
	}
	var captures []string
	sepEscaped := false
	switch {
	case p.uri != nil:
		sepEscaped = true
		upstream = p.uri.render(c, nil, escapeSeparator)
		if query != "" {
			if strings.IndexByte(upstream, '?') >= 0 {
				upstream += "&" + query[1:]
			} else {
				upstream += query
			}
		}
	case p.rules != nil:
		sepEscaped = strings.IndexByte(upstream, '?') < 0
		for _, rl := range p.rules {
			m := rl.re.FindStringSubmatchIndex(upstream)
			if m == nil {
				continue
			}
			if p.hasHeaders {
				captures = make([]string, len(m)/2)
				for i := range captures {
					if m[2*i] >= 0 {
						captures[i] = upstream[m[2*i]:m[2*i+1]]
					}
				}
			}
			var b strings.Builder
			b.WriteString(upstream[:m[0]])
			rl.rep.WriteString(&b, upstream, m)
			b.WriteString(upstream[m[1]:])
			upstream = b.String()
			break
		}
	}
	if !p.unsafe {
		idx := -1
		if sepEscaped {
			idx = strings.IndexByte(upstream, '?')
		}
		if idx >= 0 {
			upstream = uriSafeEncode(upstream[:idx]) + escapeControl(upstream[idx:])
		} else {
			upstream = uriSafeEncode(upstream)
		}
		if args := r.URL.RawQuery; args != "" {
			if idx >= 0 {
				upstream += "&" + args
			} else {
				upstream += "?" + args
			}
		}
	}
	c.UpstreamURI = upstream
	if p.hasHeaders {
		p.headers(c, captures)
	}
	if p.method != "" {
		r.Method = p.method
	}
	return plugins.Continue
}

// headers applies add, then set, then remove; values with control characters are dropped.
func (p *Plugin) headers(c *plugins.Ctx, captures []string) {
	h := c.R.Header
	for _, op := range p.add {
		for _, t := range op.values {
			if v, ok := p.value(c, op.name, t, captures); ok {
				h[op.name] = append(h[op.name], v)
			}
		}
	}
	for _, op := range p.set {
		if !op.array {
			if v, ok := p.value(c, op.name, op.values[0], captures); ok {
				h[op.name] = []string{v}
			}
			continue
		}
		vals := make([]string, 0, len(op.values))
		for _, t := range op.values {
			if v, ok := p.value(c, op.name, t, captures); ok {
				vals = append(vals, v)
			}
		}
		if len(vals) > 0 {
			h[op.name] = vals
		}
	}
	for _, name := range p.remove {
		delete(h, name)
	}
}

func (p *Plugin) value(c *plugins.Ctx, name string, t *template, captures []string) (string, bool) {
	v := t.render(c, captures, nil)
	if strings.ContainsFunc(v, isCTL) {
		p.log.Warn("header value with a control character dropped", "header", name, "route_id", c.RouteID)
		return "", false
	}
	return v, true
}

var _ plugins.RewritePhase = (*Plugin)(nil)
