package cors

import (
	"strings"
	"testing"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/pluginstest"
)

var (
	_ plugins.RewritePhase      = (*Plugin)(nil)
	_ plugins.HeaderFilterPhase = (*Plugin)(nil)
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  string
		want string // substring of the error; "" means accepted
	}{
		{"defaults", `{}`, ""},
		{"credential, explicit values", `{"allow_origins":"http://test.com","allow_methods":"","allow_headers":"","expose_headers":"","max_age":600,"allow_credential":true}`, ""},
		{"list", `{"allow_origins":"http://a.com,https://b.com:8443","max_age":-1}`, ""},
		{"force", `{"allow_origins":"**","allow_methods":"**","allow_headers":"**","allow_credential":true}`, ""},
		{"regex", `{"allow_origins_by_regex":[".*\\.test\\.com$"],"timing_allow_origins_by_regex":["^https://"]}`, ""},
		{"max_age string", `{"max_age":"600"}`, "cannot unmarshal"},
		{"bad origin", `{"allow_origins":"test.com"}`, `property "allow_origins" validation failed: failed to match pattern`},
		{"bad timing origin", `{"timing_allow_origins":"a,b"}`, `property "timing_allow_origins" validation failed`},
		{"credential with default origins", `{"allow_credential":true,"allow_methods":"GET","allow_headers":"x"}`, "you can not set '*' for other option when 'allow_credential' is true"},
		{"credential with * methods", `{"allow_credential":true,"allow_origins":"http://a.com","allow_methods":"*","allow_headers":"x"}`, "you can not set '*'"},
		{"credential with default headers", `{"allow_credential":true,"allow_origins":"http://a.com","allow_methods":"GET"}`, "you can not set '*'"},
		{"credential with * expose", `{"allow_credential":true,"allow_origins":"http://a.com","allow_methods":"GET","allow_headers":"x","expose_headers":"*"}`, "you can not set '*'"},
		{"credential with * timing", `{"allow_credential":true,"allow_origins":"http://a.com","allow_methods":"GET","allow_headers":"x","timing_allow_origins":"*"}`, "you can not set '*'"},
		{"bad regex", `{"allow_origins_by_regex":["(a"]}`, "allow_origins_by_regex item 1: error parsing regexp"},
		{"empty regex list", `{"allow_origins_by_regex":[]}`, "expect array to have at least 1 items"},
		{"repeated regex", `{"allow_origins_by_regex":["a","a"]}`, "expected unique items but items 1 and 2 are equal"},
		{"metadata", `{"allow_origins_by_metadata":["company"]}`, "allow_origins_by_metadata is not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pluginstest.TryBuild(Spec, tt.cfg)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestRewrite(t *testing.T) {
	p := pluginstest.Build(t, Spec, `{"allow_origins":"http://a.com","allow_methods":"GET,POST"}`).(*Plugin)
	for _, m := range []string{"GET", "POST", "HEAD"} {
		if r := p.Rewrite(pluginstest.Ctx(t, pluginstest.Method(m))); r.Stopped() {
			t.Errorf("%s stopped with %d", m, r.Status)
		}
	}
	// Any OPTIONS is answered, a preflight or not.
	c := pluginstest.Ctx(t, pluginstest.Method("OPTIONS"), pluginstest.Header("Origin", "http://a.com"))
	r := p.Rewrite(c)
	if r.Status != 200 || r.Body != nil {
		t.Fatalf("OPTIONS = %d %q, want 200 without body", r.Status, r.Body)
	}
	h := c.W.Header()
	if got := h.Get("Access-Control-Allow-Origin"); got != "http://a.com" {
		t.Errorf("Access-Control-Allow-Origin = %q", got)
	}
	// The chain may run header_filter on the answered request too: nothing doubles.
	p.HeaderFilter(c)
	if vs := h.Values("Vary"); len(vs) != 1 || vs[0] != "Origin" {
		t.Errorf("Vary = %q, want [Origin]", vs)
	}
	if vs := h.Values("Access-Control-Allow-Origin"); len(vs) != 1 {
		t.Errorf("Access-Control-Allow-Origin = %q, want one value", vs)
	}
	c = pluginstest.Ctx(t, pluginstest.Method("OPTIONS"))
	if r := p.Rewrite(c); r.Status != 200 {
		t.Fatalf("OPTIONS without Origin = %d, want 200", r.Status)
	}
	if got := c.W.Header().Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("no Origin: Access-Control-Allow-Origin = %q, want none", got)
	}
}

func TestHeaderFilter(t *testing.T) {
	const none = "-"
	tests := []struct {
		name     string
		cfg      string
		origin   string            // none: no Origin header
		req      map[string]string // other request headers
		upstream map[string]string // response headers already set
		want     map[string]string // response headers; "" means absent
	}{
		{"defaults", `{}`, "http://x.com", nil, nil, map[string]string{
			"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "*",
			"Access-Control-Allow-Headers": "*", "Access-Control-Max-Age": "5",
			"Access-Control-Expose-Headers": "", "Access-Control-Allow-Credentials": "", "Vary": ""}},
		{"defaults without Origin", `{}`, none, nil, nil, map[string]string{"Access-Control-Allow-Origin": "*"}},
		{"single origin matches", `{"allow_origins":"http://a.com","allow_methods":"GET","allow_headers":"X-A","expose_headers":"X-B","max_age":600,"allow_credential":true}`, "http://a.com", nil, nil, map[string]string{
			"Access-Control-Allow-Origin": "http://a.com", "Access-Control-Allow-Methods": "GET",
			"Access-Control-Allow-Headers": "X-A", "Access-Control-Expose-Headers": "X-B",
			"Access-Control-Max-Age": "600", "Access-Control-Allow-Credentials": "true", "Vary": "Origin"}},
		{"single origin does not match", `{"allow_origins":"http://a.com"}`, "http://b.com", nil, nil, map[string]string{
			"Access-Control-Allow-Origin": "", "Access-Control-Allow-Methods": "", "Vary": "Origin"}},
		{"single origin, no Origin", `{"allow_origins":"http://a.com"}`, none, nil, nil, map[string]string{"Access-Control-Allow-Origin": ""}},
		{"list matches", `{"allow_origins":"http://a.com,http://b.com"}`, "http://b.com", nil, nil, map[string]string{"Access-Control-Allow-Origin": "http://b.com"}},
		{"list does not match", `{"allow_origins":"http://a.com,http://b.com"}`, "http://c.com", nil, nil, map[string]string{"Access-Control-Allow-Origin": ""}},
		{"null origin", `{"allow_origins":"null"}`, "null", nil, nil, map[string]string{"Access-Control-Allow-Origin": "null"}},
		{"force reflects", `{"allow_origins":"**","allow_methods":"**","allow_headers":"**"}`, "http://z.com", map[string]string{"Access-Control-Request-Headers": "X-Q"}, nil, map[string]string{
			"Access-Control-Allow-Origin": "http://z.com", "Access-Control-Allow-Methods": allMethods,
			"Access-Control-Allow-Headers": "X-Q", "Vary": "Origin"}},
		{"force without Origin", `{"allow_origins":"**"}`, none, nil, nil, map[string]string{"Access-Control-Allow-Origin": "*"}},
		{"force headers without request headers", `{"allow_headers":"**"}`, "http://z.com", nil, nil, map[string]string{"Access-Control-Allow-Headers": ""}},
		{"regex matches", `{"allow_origins_by_regex":[".*\\.test\\.com$"]}`, "http://a.test.com", nil, nil, map[string]string{"Access-Control-Allow-Origin": "http://a.test.com", "Vary": ""}},
		{"regex replaces allow_origins", `{"allow_origins":"http://a.com","allow_origins_by_regex":["^http://b\\.com$"]}`, "http://a.com", nil, nil, map[string]string{"Access-Control-Allow-Origin": "", "Vary": "Origin"}},
		{"regex, no Origin", `{"allow_origins_by_regex":[".*"]}`, none, nil, nil, map[string]string{"Access-Control-Allow-Origin": ""}},
		{"vary appended", `{"allow_origins":"http://a.com"}`, "http://a.com", nil, map[string]string{"Vary": "Via"}, map[string]string{"Vary": "Via"}},
		{"timing", `{"timing_allow_origins":"http://a.com"}`, "http://a.com", nil, nil, map[string]string{"Timing-Allow-Origin": "http://a.com"}},
		{"timing no match", `{"timing_allow_origins":"http://a.com"}`, "http://b.com", nil, nil, map[string]string{"Timing-Allow-Origin": ""}},
		{"timing by regex", `{"timing_allow_origins_by_regex":["a\\.com$"]}`, "http://a.com", nil, nil, map[string]string{"Timing-Allow-Origin": "http://a.com"}},
		{"timing unset", `{}`, "http://a.com", nil, nil, map[string]string{"Timing-Allow-Origin": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pluginstest.Build(t, Spec, tt.cfg).(*Plugin)
			var opts []pluginstest.Option
			if tt.origin != none {
				opts = append(opts, pluginstest.Header("Origin", tt.origin))
			}
			for k, v := range tt.req {
				opts = append(opts, pluginstest.Header(k, v))
			}
			c := pluginstest.Ctx(t, opts...)
			for k, v := range tt.upstream {
				c.W.Header().Set(k, v)
			}
			p.HeaderFilter(c)
			h := c.W.Header()
			for k, want := range tt.want {
				if got := h.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if tt.upstream["Vary"] != "" {
				if vs := h.Values("Vary"); len(vs) != 2 || vs[1] != "Origin" {
					t.Errorf("Vary = %q, want [Via Origin]", vs)
				}
			}
		})
	}
}

func TestHeaderFilterNoAlloc(t *testing.T) {
	p := pluginstest.Build(t, Spec, `{"allow_origins":"http://a.com,http://b.com"}`).(*Plugin)
	c := pluginstest.Ctx(t, pluginstest.Header("Origin", "http://c.com"))
	c.W.Header()["Vary"] = []string{"Origin"}
	if n := testing.AllocsPerRun(100, func() { p.HeaderFilter(c) }); n != 0 {
		t.Errorf("HeaderFilter for a refused origin allocates %v times", n)
	}
}
