package logutil

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/condition"
)

// The variables the capture methods set for the rest of the request.
const (
	ReqBodyVar  = "request_body"
	RespBodyVar = "resp_body"
)

// Builder builds one logger's entries; it is built once per snapshot.
type Builder struct {
	format, extra        []fmtNode
	reqBody, respBody    bool
	reqExpr, respExpr    *condition.Condition
	readReq              bool // capture the request body: include_req_body or $request_body in a format
	maxReq, maxResp      int
	match                []*condition.Condition
	hostname, version    string
	routeIDWhenUnmatched string
}

// Options are what a plugin adds to its Fields.
type Options struct {
	// Match, when set, logs only requests for which one condition holds (file-logger).
	Match []*condition.Condition
	// NoRouteID is the route_id of a request no route matched ("no-matched" for
	// http-logger); empty: no route_id.
	NoRouteID string
}

var server = sync.OnceValues(func() (string, string) {
	h, _ := os.Hostname()
	v := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		v = bi.Main.Version
	}
	return h, v
})

// NewBuilder compiles validated fields.
func NewBuilder(f *Fields, o Options) (*Builder, error) {
	b := &Builder{reqBody: f.IncludeReqBody, respBody: f.IncludeRespBody,
		maxReq: DefaultMaxBodyBytes, maxResp: DefaultMaxBodyBytes, match: o.Match,
		routeIDWhenUnmatched: o.NoRouteID}
	b.hostname, b.version = server()
	var err error
	if len(f.LogFormat) > 0 {
		if b.format, err = compileFormat(f.LogFormat, 1); err != nil {
			return nil, err
		}
	}
	if len(f.LogFormatExtra) > 0 {
		if b.extra, err = compileFormat(f.LogFormatExtra, 1); err != nil {
			return nil, err
		}
	}
	if b.reqExpr, err = compileExpr("include_req_body_expr", f.IncludeReqBodyExpr); err != nil {
		return nil, err
	}
	if b.respExpr, err = compileExpr("include_resp_body_expr", f.IncludeRespBodyExpr); err != nil {
		return nil, err
	}
	if f.MaxReqBodyBytes != nil {
		b.maxReq = *f.MaxReqBodyBytes
	}
	if f.MaxRespBodyBytes != nil {
		b.maxResp = *f.MaxRespBodyBytes
	}
	b.readReq = b.reqBody || usesVar(b.format, ReqBodyVar) || usesVar(b.extra, ReqBodyVar)
	return b, nil
}

func usesVar(ns []fmtNode, name string) bool {
	for i := range ns {
		if ns[i].varName == name || usesVar(ns[i].sub, name) {
			return true
		}
	}
	return false
}

// Access reads up to max_req_body_bytes of the request body into the request_body
// variable, when the entry needs it, and puts them back in front of the rest.
func (b *Builder) Access(c *plugins.Ctx) plugins.Result {
	if !b.readReq || c.R.Body == nil || c.R.Body == http.NoBody {
		return plugins.Continue
	}
	if b.reqBody && b.reqExpr != nil && !usesVar(b.format, ReqBodyVar) && !b.reqExpr.Eval(c) {
		return plugins.Continue
	}
	buf, err := io.ReadAll(io.LimitReader(c.R.Body, int64(b.maxReq)))
	c.SetVar(ReqBodyVar, string(buf))
	rest := io.Reader(c.R.Body) // more may follow
	switch {
	case err != nil:
		rest = errReader{err} // the upstream sees the client's error
	case len(buf) < b.maxReq:
		rest = eofReader{}
	}
	c.R.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(buf), rest), c.R.Body}
	return plugins.Continue
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// BodyFilter keeps up to max_resp_body_bytes of the response in the resp_body variable
// when include_resp_body is set (and include_resp_body_expr holds); the chunk passes
// unchanged.
func (b *Builder) BodyFilter(c *plugins.Ctx, chunk []byte, eof bool) []byte {
	if !b.respBody || len(chunk) == 0 {
		return chunk
	}
	prev, _ := c.Var(RespBodyVar)
	room := b.maxResp - len(prev)
	if room <= 0 {
		return chunk
	}
	if b.respExpr != nil && prev == "" && !b.respExpr.Eval(c) {
		return chunk
	}
	if len(chunk) < room {
		room = len(chunk)
	}
	c.SetVar(RespBodyVar, prev+string(chunk[:room]))
	return chunk
}

// Entry encodes c's log entry as JSON; ok is false when `match` excludes the request.
func (b *Builder) Entry(c *plugins.Ctx) (_ []byte, ok bool) {
	if b.match != nil {
		matched := false
		for _, m := range b.match {
			if m.Eval(c) {
				matched = true
				break
			}
		}
		if !matched {
			return nil, false
		}
	}
	var e map[string]any
	if b.format != nil {
		e = build(b.format, c)
		if c.RouteID != "" {
			e["route_id"] = c.RouteID
			if c.ServiceID != "" {
				e["service_id"] = c.ServiceID
			}
		}
	} else {
		e = b.full(c)
		if b.extra != nil {
			for k, v := range build(b.extra, c) {
				if _, taken := e[k]; !taken {
					e[k] = v
				}
			}
		}
	}
	if _, ok := e["route_id"]; !ok && b.routeIDWhenUnmatched != "" {
		e["route_id"] = b.routeIDWhenUnmatched
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, false
	}
	return bytes.TrimSuffix(out.Bytes(), []byte{'\n'}), true
}

func build(ns []fmtNode, c *plugins.Ctx) map[string]any {
	e := make(map[string]any, len(ns))
	for i := range ns {
		n := &ns[i]
		switch {
		case n.varName != "":
			if v, ok := c.Var(n.varName); ok {
				e[n.key] = v
			}
		case n.nested:
			e[n.key] = build(n.sub, c)
		default:
			e[n.key] = n.lit
		}
	}
	return e
}

// full is APISIX's get_full_log.
func (b *Builder) full(c *plugins.Ctx) map[string]any {
	r := c.R
	host, _ := c.Var("host")
	port, _ := c.Var("server_port")
	req := map[string]any{
		"url":         c.Scheme + "://" + host + ":" + port + r.RequestURI,
		"uri":         r.RequestURI,
		"method":      r.Method,
		"headers":     lowerHeaders(r.Header, r.Host),
		"querystring": query(r.URL.RawQuery),
		"size":        size(c, "request_length", max(r.ContentLength, 0)),
	}
	resp := map[string]any{
		"status":  c.Status,
		"headers": lowerHeaders(c.W.Header(), ""),
		"size":    size(c, "bytes_sent", respLength(c)),
	}
	e := map[string]any{
		"request":   req,
		"response":  resp,
		"server":    map[string]any{"hostname": b.hostname, "version": b.version},
		"client_ip": clientIP(c),
	}
	if c.UpstreamAddr != "" {
		e["upstream"] = c.UpstreamAddr
	}
	if c.RouteID != "" {
		e["route_id"] = c.RouteID
		e["service_id"] = c.ServiceID
	} else {
		e["service_id"] = host
	}
	if c.ConsumerName != "" {
		e["consumer"] = map[string]any{"username": c.ConsumerName}
	}
	if !c.Start.IsZero() {
		latency := ms(time.Since(c.Start))
		gate := latency
		e["start_time"] = float64(c.Start.UnixMicro()) / 1000
		e["latency"] = latency
		if c.UpstreamTime > 0 {
			up := ms(c.UpstreamTime)
			e["upstream_latency"] = up
			gate = max(0, latency-up)
		}
		e["apisix_latency"] = gate
	}
	if b.respBody {
		if v, ok := c.Var(RespBodyVar); ok {
			resp["body"] = v
		}
	}
	if b.reqBody {
		if v, ok := c.Var(ReqBodyVar); ok {
			req["body"] = v
		}
	}
	return e
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// lowerHeaders is ngx.req.get_headers(): lower-case names, repeated ones as arrays.
func lowerHeaders(h map[string][]string, host string) map[string]any {
	out := make(map[string]any, len(h)+1)
	if host != "" {
		out["host"] = host // net/http keeps Host out of the header map
	}
	for k, vs := range h {
		switch len(vs) {
		case 0:
		case 1:
			out[strings.ToLower(k)] = vs[0]
		default:
			out[strings.ToLower(k)] = vs
		}
	}
	return out
}

// query is ngx.req.get_uri_args(): repeated args as arrays, an arg without '=' as true.
func query(raw string) map[string]any {
	out := map[string]any{}
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		if kv == "" {
			continue
		}
		k, v, hasEq := strings.Cut(kv, "=")
		k, err := url.QueryUnescape(k)
		if err != nil {
			continue
		}
		var val any = true
		if hasEq {
			s, err := url.QueryUnescape(v)
			if err != nil {
				continue
			}
			val = s
		}
		switch prev := out[k].(type) {
		case nil:
			out[k] = val
		case []any:
			out[k] = append(prev, val)
		default:
			out[k] = []any{prev, val}
		}
	}
	return out
}

func clientIP(c *plugins.Ctx) string {
	if v, ok := c.Var("remote_addr"); ok {
		return v
	}
	if h, _, err := net.SplitHostPort(c.R.RemoteAddr); err == nil {
		return h
	}
	return ""
}

func size(c *plugins.Ctx, name string, fallback int64) int64 {
	if v, ok := c.Var(name); ok {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n
		}
	}
	return fallback
}

func respLength(c *plugins.Ctx) int64 {
	v := c.W.Header()["Content-Length"]
	if len(v) == 0 {
		return 0
	}
	n, _ := strconv.ParseInt(v[0], 10, 64)
	return n
}
