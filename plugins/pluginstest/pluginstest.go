// Package pluginstest builds plugin instances and request contexts for plugin unit
// tests, without a server.
package pluginstest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/portico-gw/portico/plugins"
)

// Build decodes cfg as the Admin API would (strictly, through the plugin's Validate),
// then builds the instance. cfg is a JSON string or any value that marshals to JSON.
func Build(t testing.TB, spec plugins.Spec, cfg any) any {
	t.Helper()
	inst, err := TryBuild(spec, cfg)
	if err != nil {
		t.Fatalf("build %s: %v", spec.Name, err)
	}
	return inst
}

// TryBuild is Build returning the error (for tests of refused configs).
func TryBuild(spec plugins.Spec, cfg any) (any, error) {
	raw, ok := cfg.(string)
	if !ok {
		b, err := json.Marshal(cfg)
		if err != nil {
			return nil, err
		}
		raw = string(b)
	}
	reg := plugins.NewRegistry(spec)
	d, err := reg.Decode(spec.Name, json.RawMessage(raw))
	if err != nil {
		return nil, err
	}
	if spec.Build == nil {
		return nil, nil
	}
	return spec.Build(d.Config)
}

// Option changes the request Ctx builds.
type Option func(*http.Request, *plugins.Ctx)

// ClientAddr sets the client address ("" leaves it invalid).
func ClientAddr(ip string) Option {
	return func(r *http.Request, c *plugins.Ctx) {
		if a, err := netip.ParseAddr(ip); err == nil {
			c.Remote = netip.AddrPortFrom(a, 40000)
		} else {
			c.Remote = netip.AddrPort{}
		}
	}
}

// Header sets a request header.
func Header(name, value string) Option {
	return func(r *http.Request, c *plugins.Ctx) { r.Header.Set(name, value) }
}

// Method sets the request method.
func Method(m string) Option { return func(r *http.Request, c *plugins.Ctx) { r.Method = m } }

// Target sets the request target (path and query).
func Target(target string) Option {
	return func(r *http.Request, c *plugins.Ctx) {
		nr := httptest.NewRequest(r.Method, target, nil)
		r.URL, r.RequestURI = nr.URL, nr.RequestURI
		c.Path = nr.URL.Path
	}
}

// Body sets the request body.
func Body(s string) Option {
	return func(r *http.Request, c *plugins.Ctx) {
		r.Body = httpNoClose{strings.NewReader(s)}
		r.ContentLength = int64(len(s))
	}
}

// Consumers sets the snapshot's consumer set.
func Consumers(cs *plugins.ConsumerSet) Option {
	return func(r *http.Request, c *plugins.Ctx) { c.Consumers = cs }
}

type httpNoClose struct{ *strings.Reader }

func (httpNoClose) Close() error { return nil }

// Ctx returns a request context for GET / from 127.0.0.1 with a recording writer,
// reachable as Recorder(c).
func Ctx(t testing.TB, opts ...Option) *plugins.Ctx {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	rec := httptest.NewRecorder()
	c := &plugins.Ctx{W: rec, R: r, Path: "/", Scheme: "http", Remote: netip.MustParseAddrPort("127.0.0.1:40000")}
	for _, o := range opts {
		o(r, c)
	}
	return c
}

// Recorder returns the recorder behind a Ctx made by Ctx.
func Recorder(c *plugins.Ctx) *httptest.ResponseRecorder {
	return c.W.(*httptest.ResponseRecorder)
}
