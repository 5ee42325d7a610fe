package extplugin

import (
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"testing"

	hrc "github.com/api7/ext-plugin-proto/go/A6/HTTPReqCall"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/pluginstest"
)

func str(s string) *string { return &s }

// TestApplyFromRunner sends every field of both actions through the wire and checks
// what lands on the Ctx.
func TestApplyFromRunner(t *testing.T) {
	reply := make(chan []byte, 1)
	f := startFake(t, func(fc *fakeConn, req *hrc.Req) (byte, []byte) {
		return typeHTTPReqCall, <-reply
	})
	cl := NewClient(Options{Socket: f.path})
	defer cl.Close()
	p := newTestPlugin(cl, false)

	t.Run("stop", func(t *testing.T) {
		reply <- stopReply(0, 403, []kv{{k: "x-a", v: "1"}, {k: "X-A", v: "2"}, {k: "x-b", v: ""}}, "denied")
		c := pluginstest.Ctx(t)
		res := p.Run(c)
		if res.Status != 403 || string(res.Body) != "denied" {
			t.Errorf("Result %d %q", res.Status, res.Body)
		}
		h := c.W.Header()
		if !reflect.DeepEqual(h["X-A"], []string{"1", "2"}) || !reflect.DeepEqual(h["X-B"], []string{""}) {
			t.Errorf("headers %v", h)
		}
	})
	t.Run("stop status 0 is 200", func(t *testing.T) {
		reply <- stopReply(0, 0, nil, "")
		if res := p.Run(pluginstest.Ctx(t)); res.Status != 200 || res.Body != nil {
			t.Errorf("Result %d %q", res.Status, res.Body)
		}
	})
	t.Run("rewrite", func(t *testing.T) {
		reply <- rewriteReply(0, rewriteSpec{
			path:        str("/new path?x"),
			headers:     []kv{{k: "x-set", v: "v"}, {k: "x-del", noValue: true}, {k: "x-multi", v: "1"}, {k: "x-multi", v: "2"}, {k: "host", v: "up.example"}, {k: "bad name", v: "x"}, {k: "x-crlf", v: "a\r\nb"}},
			args:        []kv{{k: "a", v: "foo"}, {k: "d", noValue: true}, {k: "c", v: "bar"}, {k: "a", v: "bar"}},
			respHeaders: []kv{{k: "x-resp", v: "1"}, {k: "x-resp", v: "2"}, {k: "content-type", v: "text/evil"}, {k: "location", v: "/x"}},
			body:        "new body",
		})
		c := pluginstest.Ctx(t, pluginstest.Method("POST"), pluginstest.Target("/old?c=foo&d=bar"), pluginstest.Body("old"),
			pluginstest.Header("X-Del", "1"), pluginstest.Header("X-Keep", "k"))
		if res := p.Run(c); res.Stopped() {
			t.Fatalf("Result %+v", res)
		}
		if c.UpstreamURI != "/new%20path%3Fx?c=bar&a=foo&a=bar" {
			t.Errorf("UpstreamURI %q", c.UpstreamURI)
		}
		if c.R.URL.RawQuery != "c=bar&a=foo&a=bar" {
			t.Errorf("RawQuery %q", c.R.URL.RawQuery)
		}
		h := c.R.Header
		if h.Get("X-Set") != "v" || h["X-Del"] != nil || h.Get("X-Keep") != "k" || !reflect.DeepEqual(h["X-Multi"], []string{"1", "2"}) {
			t.Errorf("request headers %v", h)
		}
		if h["X-Crlf"] != nil || h["Bad Name"] != nil {
			t.Errorf("invalid headers applied: %v", h)
		}
		if c.UpstreamHost != "up.example" {
			t.Errorf("UpstreamHost %q", c.UpstreamHost)
		}
		b, _ := io.ReadAll(c.R.Body)
		if string(b) != "new body" || c.R.ContentLength != 8 || h.Get("Content-Length") != "8" {
			t.Errorf("body %q, length %d / %q", b, c.R.ContentLength, h.Get("Content-Length"))
		}
		rh := c.W.Header()
		if !reflect.DeepEqual(rh["X-Resp"], []string{"1", "2"}) || rh["Content-Type"] != nil || rh["Location"] != nil {
			t.Errorf("response headers %v", rh)
		}
	})
	t.Run("path only keeps the query", func(t *testing.T) {
		reply <- rewriteReply(0, rewriteSpec{path: str("/p")})
		c := pluginstest.Ctx(t, pluginstest.Target("/old?a=1&b"))
		p.Run(c)
		if c.UpstreamURI != "/p?a=1&b" {
			t.Errorf("UpstreamURI %q", c.UpstreamURI)
		}
	})
	t.Run("args after proxy-rewrite", func(t *testing.T) {
		reply <- rewriteReply(0, rewriteSpec{args: []kv{{k: "z", v: "1 2"}}})
		c := pluginstest.Ctx(t, pluginstest.Target("/old?a=1"))
		c.UpstreamURI = "/up?q=%41"
		p.Run(c)
		if c.UpstreamURI != "/up?q=%41&z=1%202" {
			t.Errorf("UpstreamURI %q", c.UpstreamURI)
		}
	})
	t.Run("none", func(t *testing.T) {
		reply <- noneReply(0)
		c := pluginstest.Ctx(t, pluginstest.Target("/old?a=1"))
		if res := p.Run(c); res.Stopped() || c.UpstreamURI != "" || c.R.URL.RawQuery != "a=1" {
			t.Errorf("Result %+v, UpstreamURI %q", res, c.UpstreamURI)
		}
	})
}

func TestApplyArgs(t *testing.T) {
	tests := []struct {
		query string
		es    []Entry
		want  string
	}{
		// APISIX http-req-call.t TEST 7, in Portico's order
		{"c=foo&d=bar", []Entry{{Name: "a", Value: "foo"}, {Name: "d", NoValue: true}, {Name: "c", Value: "bar"}, {Name: "a", Value: "bar"}}, "c=bar&a=foo&a=bar"},
		{"x=1&y=2&x=3", []Entry{{Name: "x", Value: "9"}}, "x=9&y=2"},
		{"x=1&y=2&x=3", []Entry{{Name: "x", NoValue: true}}, "y=2"},
		{"k%20e=1&v", []Entry{{Name: "new", Value: "a&b=c"}}, "k%20e=1&v&new=a%26b%3Dc"},
		{"", []Entry{{Name: "x", Value: ""}}, "x="},
		{"a=1&b=2", []Entry{{Name: "a", Value: "1"}, {Name: "b", Value: "x"}, {Name: "a", Value: "2"}}, "a=1&a=2&b=x"},
	}
	for _, tt := range tests {
		if got := applyArgs(tt.query, tt.es); got != tt.want {
			t.Errorf("applyArgs(%q, %v) = %q, want %q", tt.query, tt.es, got, tt.want)
		}
	}
}

func TestEscapeURI(t *testing.T) {
	for in, want := range map[string]string{
		"/plain/path-_.~!$&'()*+,;=:@": "/plain/path-_.~!$&'()*+,;=:@",
		"/a b#c%d?e":                   "/a%20b%23c%25d%3Fe",
		"/é\x01\x7f":                   "/%C3%A9%01%7F",
	} {
		if got := escapeURI(in); got != want {
			t.Errorf("escapeURI(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		raw  string
		want string // "" = accepted
	}{
		{`{}`, ""},
		{`{"conf":[{"name":"a","value":"{\"x\":1}"}],"allow_degradation":true}`, ""},
		{`{"conf":[]}`, "at least 1 items"},
		{`{"conf":[{"name":"a"}]}`, `"value" is required`},
		{`{"conf":[{"value":"x"}]}`, `"name" is required`},
		{`{"conf":[{"name":"","value":"x"}]}`, "string length"},
		{`{"conf":[{"name":"` + strings.Repeat("n", 129) + `","value":"x"}]}`, "string length"},
		{`{"conf":[{"name":"a","value":"x","extra":1}]}`, "unknown field"},
		{`{"conf":[{"name":"a","value":{}}]}`, "cannot unmarshal"},
		{`{"allow_degradation":"yes"}`, "cannot unmarshal"},
	}
	spec := plugins.Spec{Name: "ext-plugin-pre-req", NewConfig: func() plugins.Config { return new(Config) }}
	for _, tt := range tests {
		_, err := pluginstest.TryBuild(spec, tt.raw)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.raw, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: err %v, want %q", tt.raw, err, tt.want)
		}
	}
}

// TestConfKey: the key (and token) follows the content, and the plugin's name.
func TestConfKey(t *testing.T) {
	a := NewConf("ext-plugin-pre-req", []ConfEntry{{Name: "x", Value: "1"}})
	b := NewConf("ext-plugin-pre-req", []ConfEntry{{Name: "x", Value: "1"}})
	c := NewConf("ext-plugin-pre-req", []ConfEntry{{Name: "x", Value: "2"}})
	d := NewConf("ext-plugin-post-req", []ConfEntry{{Name: "x", Value: "1"}})
	if a.Key() != b.Key() || a.Key() == c.Key() || a.Key() == d.Key() || !strings.HasPrefix(a.Key(), "ext-plugin-pre-req#") {
		t.Errorf("keys %s %s %s %s", a.Key(), b.Key(), c.Key(), d.Key())
	}
	var cfg Config
	json.Unmarshal([]byte(`{"conf":[{"name":"x","value":"1"}]}`), &cfg)
	if New("ext-plugin-pre-req", &cfg).conf.Key() != a.Key() {
		t.Error("New does not key by content")
	}
}
