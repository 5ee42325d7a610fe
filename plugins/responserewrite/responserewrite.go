package responserewrite

import (
	"bytes"
	"compress/gzip"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/condition"
	"github.com/portico-gw/portico/plugins/internal/regexsub"
)

// Spec registers response-rewrite.
var Spec = plugins.Spec{Name: "response-rewrite", Priority: 899,
	NewConfig: func() plugins.Config { return new(Config) },
	Build:     build}

// build makes the instance; one that changes no body (neither body nor filters) is
// headersOnly, with no body filter, so the response keeps its Content-Length and
// streams as it came, as APISIX clears the length only when it changes the body.
func build(c plugins.Config) (any, error) {
	p, err := New(c.(*Config))
	if err != nil || p.body != nil || p.filters != nil {
		return p, err
	}
	return headersOnly{p}, nil
}

// headersOnly is the plugin without its body filter.
type headersOnly struct{ p *Plugin }

// HeaderFilter is Plugin.HeaderFilter.
func (h headersOnly) HeaderFilter(c *plugins.Ctx) { h.p.HeaderFilter(c) }

type headerOp struct {
	name string // canonical
	tpl  *plugins.Template
}

// Plugin is built once per snapshot; nothing is parsed per request.
type Plugin struct {
	vars     *condition.Condition // nil: always
	status   int                  // 0: keep
	body     []byte               // nil: keep (filters may still change it)
	filters  []filter
	maxBody  int
	add, set []headerOp
	remove   []string

	// needState: the body phase must know what header_filter decided (vars with a
	// body) or must buffer (filters). The state is the Ctx's plugin state under p.
	needState bool
	log       *slog.Logger
}

// reqState is one request's state between header_filter and the last body chunk.
type reqState struct {
	gzipped bool // the upstream body is gzip-encoded: filters gunzip it first
	buf     []byte
}

// New compiles the condition, templates and regexes.
func New(c *Config) (*Plugin, error) {
	p := &Plugin{maxBody: defaultMaxBody, log: slog.Default().With("plugin", "response-rewrite")}
	if c.MaxRespBodySize != nil {
		p.maxBody = *c.MaxRespBodySize
	}
	if c.StatusCode != nil {
		p.status = *c.StatusCode
	}
	if c.Body != nil {
		p.body = []byte(*c.Body)
		if c.BodyBase64 {
			b, err := decodeBase64(*c.Body)
			if err != nil {
				return nil, err
			}
			p.body = b
		}
		if p.body == nil {
			p.body = []byte{}
		}
	}
	var err error
	if p.vars, err = condition.Compile(c.Vars); err != nil {
		return nil, err
	}
	for _, f := range c.Filters {
		re, err := regexsub.CompileRegex(*f.Regex, f.options())
		if err != nil {
			return nil, err
		}
		rep, err := regexsub.Compile(*f.Replace)
		if err != nil {
			return nil, err
		}
		p.filters = append(p.filters, filter{re: re, rep: rep, global: f.Scope != nil && *f.Scope == "global"})
	}
	if h := c.Headers; h != nil {
		for _, item := range h.Add {
			m := addParse.FindStringSubmatch(item)
			p.add = append(p.add, headerOp{name: http.CanonicalHeaderKey(m[1]), tpl: plugins.CompileTemplate(m[2])})
		}
		set := h.Set
		if h.Flat != nil {
			set = h.Flat
		}
		names := make([]string, 0, len(set))
		for n := range set {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			p.set = append(p.set, headerOp{name: http.CanonicalHeaderKey(n), tpl: plugins.CompileTemplate(string(set[n]))})
		}
		for _, n := range h.Remove {
			p.remove = append(p.remove, http.CanonicalHeaderKey(n))
		}
	}
	p.needState = p.filters != nil || (p.body != nil && p.vars != nil)
	return p, nil
}

// HeaderFilter evaluates vars and changes the status and headers.
func (p *Plugin) HeaderFilter(c *plugins.Ctx) {
	if p.needState && c.PluginState(p) != nil {
		c.SetPluginState(p, nil) // a stale entry of an earlier request on this Ctx
	}
	if p.vars != nil && !p.vars.Eval(c) {
		return
	}
	if p.status != 0 {
		c.Status = p.status
	}
	h := c.W.Header()
	if p.body != nil || p.filters != nil {
		enc := strings.TrimSpace(h.Get("Content-Encoding"))
		gzipped := strings.EqualFold(enc, "gzip") || strings.EqualFold(enc, "x-gzip")
		if p.filters != nil && enc != "" && !gzipped && !strings.EqualFold(enc, "identity") {
			// the body cannot be decoded: leave it, and its headers, as they are
			p.log.Warn("filters skipped: unsupported content encoding", "content_encoding", enc, "route_id", c.RouteID)
		} else {
			delete(h, "Content-Length")
			delete(h, "Content-Encoding")
			delete(h, "Last-Modified")
			delete(h, "Etag")
			if p.needState {
				c.SetPluginState(p, &reqState{gzipped: gzipped})
			}
		}
	}
	for _, op := range p.add {
		if v, ok := p.value(c, op); ok && v != "" {
			h[op.name] = append(h[op.name], v)
		}
	}
	for _, op := range p.set {
		if v, ok := p.value(c, op); ok {
			if v == "" {
				delete(h, op.name) // nginx sends no header with an empty value
			} else {
				h[op.name] = []string{v}
			}
		}
	}
	for _, name := range p.remove {
		delete(h, name)
	}
}

func (p *Plugin) value(c *plugins.Ctx, op headerOp) (string, bool) {
	v := op.tpl.Render(c)
	if strings.ContainsFunc(v, isCTL) {
		p.log.Warn("header value with a control character dropped", "header", op.name, "route_id", c.RouteID)
		return "", false
	}
	return v, true
}

// BodyFilter replaces or filters the body: intermediate chunks give nil, the last one
// the whole new body.
func (p *Plugin) BodyFilter(c *plugins.Ctx, chunk []byte, eof bool) []byte {
	if p.body == nil && p.filters == nil {
		return chunk
	}
	if !p.needState { // body, no vars: always replaced
		if !eof {
			return nil
		}
		return p.body
	}
	st, _ := c.PluginState(p).(*reqState)
	if st == nil { // vars did not hold, or the encoding is not one filters can read
		return chunk
	}
	if p.body != nil {
		if !eof {
			return nil
		}
		c.SetPluginState(p, nil)
		return p.body
	}
	if room := p.maxBody - len(st.buf); room > 0 {
		st.buf = append(st.buf, chunk[:min(len(chunk), room)]...)
	}
	if !eof {
		return nil
	}
	c.SetPluginState(p, nil)
	body := st.buf
	if st.gzipped {
		plain, err := gunzip(body, p.maxBody)
		if err != nil {
			p.log.Warn("filters skipped: gzip body cannot be decoded", "err", err, "route_id", c.RouteID)
			return body
		}
		body = plain
	}
	for i := range p.filters {
		body = p.filters[i].apply(body)
	}
	if body == nil {
		body = []byte{}
	}
	return body
}

// Log drops the request's state when the response ended before its last chunk.
func (p *Plugin) Log(c *plugins.Ctx) {
	if p.needState && c.PluginState(p) != nil {
		c.SetPluginState(p, nil)
	}
}

// gunzip decodes at most limit bytes of a gzip body.
func gunzip(b []byte, limit int) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	out, err := io.ReadAll(io.LimitReader(zr, int64(limit)))
	if err != nil && err != io.ErrUnexpectedEOF {
		return nil, err
	}
	return out, nil
}

var (
	_ plugins.HeaderFilterPhase = (*Plugin)(nil)
	_ plugins.BodyFilterPhase   = (*Plugin)(nil)
	_ plugins.LogPhase          = (*Plugin)(nil)
)
