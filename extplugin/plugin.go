package extplugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/portico-gw/portico/plugins"
)

// Config is the configuration of ext-plugin-pre-req and ext-plugin-post-req, with
// APISIX's field names.
type Config struct {
	// Conf lists the runner's plugins and their configurations, in execution order.
	Conf []ConfEntry `json:"conf,omitempty"`
	// AllowDegradation lets the request go on, as if the plugin were absent, when the
	// runner cannot be reached or fails.
	AllowDegradation bool `json:"allow_degradation,omitempty"`
}

// UnmarshalJSON requires name and value, refusing other fields.
func (e *ConfEntry) UnmarshalJSON(b []byte) error {
	var raw struct {
		Name  *string `json:"name"`
		Value *string `json:"value"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return err
	}
	if raw.Name == nil {
		return errors.New(`property "name" is required`)
	}
	if raw.Value == nil {
		return errors.New(`property "value" is required`)
	}
	e.Name, e.Value = *raw.Name, *raw.Value
	return nil
}

// Validate names the bad field; admin adds APISIX's error prefix.
func (c *Config) Validate() error {
	if c.Conf != nil && len(c.Conf) == 0 {
		return errors.New(`property "conf" validation failed: expect array to have at least 1 items`)
	}
	for i, e := range c.Conf {
		if n := len(e.Name); n < 1 || n > 128 {
			return fmt.Errorf(`property "conf" validation failed: failed to validate item %d: property "name" validation failed: string length must be 1 to 128, got %d`, i+1, n)
		}
	}
	return nil
}

// Plugin is one ext-plugin-pre-req or ext-plugin-post-req instance: the conf it
// prepares on the runner and what to do when the runner fails.
type Plugin struct {
	name    string
	conf    *Conf
	degrade bool
	client  *Client // nil: Default()
}

// New builds the instance of the gateway plugin name (the APISIX name) for cfg. It
// calls the runner through Default() at request time.
func New(name string, cfg *Config) *Plugin {
	return &Plugin{name: name, conf: NewConf(name, cfg.Conf), degrade: cfg.AllowDegradation}
}

// WithClient makes p call cl instead of Default() (tests).
func (p *Plugin) WithClient(cl *Client) *Plugin {
	q := *p
	q.client = cl
	return &q
}

var errNoRunner = errors.New("no plugin runner configured (ext_plugin.cmd or ext_plugin.path_for_test)")

// Run sends the request to the runner and applies its decision to c: a Stop becomes
// the Result, a Rewrite changes the request. A runner that cannot be reached or fails
// answers 503, or lets the request pass with allow_degradation.
func (p *Plugin) Run(c *plugins.Ctx) plugins.Result {
	cl := p.client
	if cl == nil {
		cl = Default()
	}
	if cl == nil {
		return p.fail(c, errNoRunner)
	}
	r := c.R
	req := Request{SrcIP: c.Remote.Addr(), Method: r.Method, Path: c.Path, Query: r.URL.RawQuery, Host: r.Host, Header: r.Header}
	if c.UpstreamURI != "" {
		// what the upstream would get, as APISIX sends $upstream_uri
		req.Path, req.Query, _ = strings.Cut(c.UpstreamURI, "?")
	}
	if c.UpstreamHost != "" {
		req.Host = c.UpstreamHost
	}
	a, err := cl.HTTPReqCall(r.Context(), p.conf, &req, ctxInfo{c})
	if err != nil {
		return p.fail(c, err)
	}
	return Apply(c, &a)
}

func (p *Plugin) fail(c *plugins.Ctx, err error) plugins.Result {
	log := c.Log
	if log == nil {
		log = slog.Default()
	}
	if p.degrade {
		log.Warn("Plugin Runner is wrong, allow degradation", "plugin", p.name, "route_id", c.RouteID, "err", err)
		return plugins.Continue
	}
	log.Error("failed to run the plugin runner", "plugin", p.name, "route_id", c.RouteID, "err", err)
	return plugins.Respond(http.StatusServiceUnavailable, nil)
}

// ctxInfo answers ExtraInfo from the request context. One pointer: no allocation as Info.
type ctxInfo struct{ c *plugins.Ctx }

func (i ctxInfo) Var(name string) (string, bool) { return i.c.Var(name) }

func (i ctxInfo) ReqBody() ([]byte, error) { return ReadBody(i.c.R) }

func (i ctxInfo) RespBody() ([]byte, error) {
	return nil, errors.New("no response body before the upstream answered")
}

// bufferedBody is a request body read into memory, readable again.
type bufferedBody struct {
	*bytes.Reader
	b []byte
}

func (*bufferedBody) Close() error { return nil }

type readCloser struct {
	io.Reader
	io.Closer
}

// maxBody is the largest body an ExtraInfo answer can carry.
const maxBody = MaxPayload - 64

// ReadBody reads r's whole body and puts it back, so the upstream still gets it; a body
// read before is not read again. A body that does not fit a frame is an error and is
// left intact for the upstream.
func ReadBody(r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if bb, ok := r.Body.(*bufferedBody); ok {
		return bb.b, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(b) > maxBody {
		r.Body = readCloser{io.MultiReader(bytes.NewReader(b), r.Body), r.Body}
		if err == nil {
			err = fmt.Errorf("request body larger than %d bytes", maxBody)
		}
		return nil, err
	}
	r.Body = &bufferedBody{bytes.NewReader(b), b}
	return b, nil
}

// respExcluded are the response headers APISIX silently ignores in Rewrite.resp_headers.
var respExcluded = map[string]bool{
	"Connection": true, "Content-Length": true, "Transfer-Encoding": true, "Location": true,
	"Server": true, "Www-Authenticate": true, "Content-Encoding": true, "Content-Type": true,
	"Content-Location": true, "Content-Language": true,
}

// Apply applies the runner's decision to c (see the package doc for each field).
func Apply(c *plugins.Ctx, a *Action) plugins.Result {
	switch a.Kind {
	case ActionStop:
		setHeaders(c, c.W.Header(), a.Headers, nil)
		status := a.Status
		if status == 0 {
			status = http.StatusOK
		}
		return plugins.Respond(status, a.Body)
	case ActionRewrite:
		rewrite(c, a)
	}
	return plugins.Continue
}

func rewrite(c *plugins.Ctx, a *Action) {
	r := c.R
	// path and args: what the upstream gets is c.UpstreamURI when set, else the
	// canonical path and r.URL.RawQuery
	uriPath, query, _ := strings.Cut(c.UpstreamURI, "?")
	hadURI := c.UpstreamURI != ""
	if !hadURI {
		query = r.URL.RawQuery
	}
	if len(a.Args) > 0 {
		query = applyArgs(query, a.Args)
		r.URL.RawQuery = query
	}
	switch {
	case a.HasPath:
		uriPath = escapeURI(a.Path)
		if uriPath == "" {
			uriPath = "/"
		}
		fallthrough
	case hadURI && len(a.Args) > 0:
		if query != "" {
			c.UpstreamURI = uriPath + "?" + query
		} else {
			c.UpstreamURI = uriPath
		}
	}
	setHeaders(c, r.Header, a.Headers, func(e *Entry) bool {
		if !strings.EqualFold(e.Name, "host") {
			return false
		}
		if !e.NoValue && validValue(e.Value) {
			c.UpstreamHost = e.Value
		}
		return true
	})
	if len(a.Body) > 0 {
		r.Body = &bufferedBody{bytes.NewReader(a.Body), a.Body}
		r.ContentLength = int64(len(a.Body))
		r.TransferEncoding = nil
		r.Header.Del("Transfer-Encoding")
		r.Header.Set("Content-Length", strconv.Itoa(len(a.Body)))
	}
	setHeaders(c, c.W.Header(), a.RespHeaders, func(e *Entry) bool {
		return respExcluded[http.CanonicalHeaderKey(e.Name)]
	})
}

// setHeaders applies entries to h: the first entry of a name sets it, later ones add,
// an entry without value deletes it. skip handles an entry itself when it returns
// true. Names that are not HTTP tokens and values with control characters are dropped.
func setHeaders(c *plugins.Ctx, h http.Header, entries []Entry, skip func(*Entry) bool) {
	var seen []string
	for i := range entries {
		e := &entries[i]
		if skip != nil && skip(e) {
			continue
		}
		if !validName(e.Name) || (!e.NoValue && !validValue(e.Value)) {
			if c.Log != nil {
				c.Log.Warn("plugin runner sent an invalid header; dropped", "header", e.Name)
			}
			continue
		}
		k := http.CanonicalHeaderKey(e.Name)
		switch {
		case e.NoValue:
			delete(h, k)
		case contains(seen, k):
			h[k] = append(h[k], e.Value)
		default:
			h[k] = []string{e.Value}
		}
		seen = append(seen, k)
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
