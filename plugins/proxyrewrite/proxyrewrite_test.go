package proxyrewrite

import (
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/pluginstest"
)

var _ plugins.RewritePhase = (*Plugin)(nil)

func TestValidate(t *testing.T) {
	tests := []struct {
		name, cfg, want string // want: "" accepted, else a substring of the error
	}{
		{"uri", `{"uri":"/x/$uri?a=${arg_b ?? none}"}`, ""},
		{"everything", `{"regex_uri":["^/a/(.*)","/b/$1","^/c","/d"],"host":"example.com:8080","method":"POST","headers":{"add":{"X-A":["1",2]},"set":{"X-B":"$remote_addr"},"remove":["X-C"]},"use_real_request_uri_unsafe":false}`, ""},
		{"flat headers", `{"headers":{"X-Api-Version":"v2","X-Num":10}}`, ""},
		{"unsafe only", `{"use_real_request_uri_unsafe":true}`, ""},
		{"empty", `{}`, "at least 1 properties"},
		{"relative uri", `{"uri":"x"}`, `"uri" validation failed`},
		{"empty uri", `{"uri":""}`, `"uri" validation failed`},
		{"one regex_uri item", `{"regex_uri":["^/a"]}`, "at least 2 items"},
		{"odd regex_uri", `{"regex_uri":["^/a","/b","^/c"]}`, "even number"},
		{"bad regex", `{"regex_uri":["(","/b"]}`, "invalid regex_uri"},
		{"PCRE-only regex", `{"regex_uri":["^/(?!admin)","/b"]}`, "invalid regex_uri"},
		{"bad replacement", `{"regex_uri":["^/(a)","/$a"]}`, "invalid capturing variable name"},
		{"bad host", `{"host":"a b"}`, `"host" validation failed`},
		{"bad method", `{"method":"FETCH"}`, `"method"`},
		{"header name with colon", `{"headers":{"set":{"a:b":"1"}}}`, "invalid field character"},
		{"flat value with LF", `{"headers":{"X-A":"a\nb"}}`, "invalid value character"},
		{"flat value non-ASCII", `{"headers":{"X-A":"é"}}`, "invalid value character"},
		{"flat array value", `{"headers":{"X-A":["a"]}}`, "string or a number"},
		{"literal CR in set", `{"headers":{"set":{"X-A":"a\r$uri"}}}`, "invalid value character"},
		{"empty headers", `{"headers":{}}`, "at least 1 properties"},
		{"empty add", `{"headers":{"add":{}}}`, `"add"`},
		{"empty remove", `{"headers":{"remove":[]}}`, `"remove"`},
		{"empty array value", `{"headers":{"set":{"X-A":[]}}}`, "at least 1 item"},
		{"mixed forms", `{"headers":{"add":{"X-A":"1"},"X-B":"2"}}`, "unknown field"},
		{"unknown field", `{"uri":"/a","scheme":"https"}`, "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pluginstest.TryBuild(Spec, tt.cfg)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("accepted, want error containing %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

const crlfTarget = "/hello%3f0z=700%26a=c%20HTTP/1.1%0D%0AHost:google.com%0d%0a%0d%0a"

func TestRewriteURI(t *testing.T) {
	tests := []struct {
		name, cfg, target string
		want              string // Ctx.UpstreamURI
	}{
		{"static uri keeps the query", `{"uri":"/plugin_proxy_rewrite"}`, "/hello?a=1&b=2", "/plugin_proxy_rewrite?a=1&b=2"},
		{"uri with a query merges", `{"uri":"/x?b=2"}`, "/hello?a=1", "/x?b=2&a=1"},
		{"uri without client query", `{"uri":"/x"}`, "/hello", "/x"},
		{"variables", `{"uri":"/u/$arg_id/${arg_none ?? dflt}/${http_x_missing}"}`, "/hello?id=7", "/u/7/dflt/?id=7"},
		{"? in a variable cannot start a query (APISIX: %3F, then % escaped)", `{"uri":"/x/$arg_p"}`, "/hello?p=a%3Fb", "/x/a%253Fb?p=a%3Fb"},
		{"backslash-dollar is literal", `{"uri":"/x/\\$uri"}`, "/hello", `/x/\$uri`},
		{"uri from $uri with CRLF (APISIX TEST 24)", `{"uri":"/$uri/remain","host":"test.xxxx.com"}`, crlfTarget,
			"//hello%253F0z=700&a=c%20HTTP/1.1%0D%0AHost:google.com%0D%0A%0D%0A/remain"},
		{"host only re-encodes the path (APISIX TEST 22)", `{"host":"test.xxxx.com"}`, crlfTarget,
			"/hello%3F0z=700&a=c%20HTTP/1.1%0D%0AHost:google.com%0D%0A%0D%0A"},
		{"regex_uri with args (APISIX TEST 26)", `{"regex_uri":["^/test/(.*)/(.*)/(.*)","/$1_$2_$3?a=c"]}`, "/test/plugin/proxy/rewrite", "/plugin_proxy_rewrite?a=c"},
		{"regex_uri then client args", `{"regex_uri":["^/test/(.*)","/${1}x?a=c"]}`, "/test/p?z=1", "/px?a=c&z=1"},
		{"first matching regex wins", `{"regex_uri":["^/nomatch","/no","^/a/(\\w+)","/b/$1","^/a","/c"]}`, "/a/xy/z", "/b/xy/z"},
		{"no regex matches", `{"regex_uri":["^/nomatch","/no"]}`, "/a%20b", "/a%20b"},
		{"unknown group is empty, $$ a dollar", `{"regex_uri":["^/a","/b$5$$"]}`, "/a", "/b$"},
		{"unsafe keeps the raw request uri", `{"use_real_request_uri_unsafe":true}`, "/print%5Furi%5Fdetailed?x=1", "/print%5Furi%5Fdetailed?x=1"},
		{"unsafe with uri appends the raw query", `{"uri":"/new","use_real_request_uri_unsafe":true}`, "/old%5F?x=1", "/new?x=1"},
		{"unsafe with a query in uri", `{"uri":"/new?y=2","use_real_request_uri_unsafe":true}`, "/old?x=1", "/new?y=2&x=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pluginstest.Build(t, Spec, tt.cfg).(*Plugin)
			c := pluginstest.Ctx(t, pluginstest.Target(tt.target))
			if res := p.Rewrite(c); res.Stopped() {
				t.Fatalf("stopped: %d", res.Status)
			}
			if c.UpstreamURI != tt.want {
				t.Errorf("UpstreamURI = %q, want %q", c.UpstreamURI, tt.want)
			}
		})
	}
}

func TestRewriteHostMethod(t *testing.T) {
	p := pluginstest.Build(t, Spec, `{"host":"upstream.example:8080","method":"POST"}`).(*Plugin)
	c := pluginstest.Ctx(t)
	p.Rewrite(c)
	if c.UpstreamHost != "upstream.example:8080" || c.R.Method != "POST" {
		t.Errorf("host %q method %q", c.UpstreamHost, c.R.Method)
	}
}

func TestRewriteHeaders(t *testing.T) {
	tests := []struct {
		name, cfg, target string
		in                http.Header
		want              http.Header // only these names are compared
	}{
		{"flat form sets", `{"headers":{"X-Api":"v2","x-num":10,"X-Addr":"$remote_addr"}}`, "/", http.Header{"X-Api": {"old"}},
			http.Header{"X-Api": {"v2"}, "X-Num": {"10"}, "X-Addr": {"127.0.0.1"}}},
		{"add, set, remove in order", `{"headers":{"add":{"X-A":"added","X-R":"gone"},"set":{"X-S":["s1","$arg_v"]},"remove":["X-R","x-old"]}}`, "/?v=q",
			http.Header{"X-A": {"orig"}, "X-Old": {"1"}, "X-S": {"prev"}},
			http.Header{"X-A": {"orig", "added"}, "X-S": {"s1", "q"}, "X-R": nil, "X-Old": nil}},
		{"captures from regex_uri", `{"regex_uri":["^/test/(.*)/(.*)","/echo"],"headers":{"set":{"X-Cap":"$1-${2}-$3","X-Mix":"$1 $arg_k"}}}`, "/test/plugin/proxy?k=v", nil,
			http.Header{"X-Cap": {"plugin-proxy-"}, "X-Mix": {"plugin v"}}},
		{"no captures when no regex matched", `{"regex_uri":["^/nomatch/(.*)","/echo"],"headers":{"set":{"X-Cap":"[$1]"}}}`, "/a", nil,
			http.Header{"X-Cap": {"[]"}}},
		{"CRLF after interpolation is dropped", `{"headers":{"set":{"X-Inj":"v=$arg_v","X-Ok":"fine"},"add":{"X-Add":["$arg_v","kept"]}}}`, "/?v=a%0D%0AHost:%20evil", http.Header{"X-Inj": {"orig"}},
			http.Header{"X-Inj": {"orig"}, "X-Ok": {"fine"}, "X-Add": {"kept"}}},
		{"LF alone in a flat value is dropped", `{"headers":{"X-Inj":"$arg_v"}}`, "/?v=a%0Ab", nil,
			http.Header{"X-Inj": nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pluginstest.Build(t, Spec, tt.cfg).(*Plugin)
			c := pluginstest.Ctx(t, pluginstest.Target(tt.target))
			for k, v := range tt.in {
				c.R.Header[k] = v
			}
			p.Rewrite(c)
			for k, want := range tt.want {
				if got := c.R.Header[k]; !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestConcurrentRewrite_hammer(t *testing.T) {
	p := pluginstest.Build(t, Spec, `{"regex_uri":["^/a/(.*)","/b/$1"],"headers":{"set":{"X-C":"$1"}}}`).(*Plugin)
	done := make(chan struct{})
	for w := 0; w < 8; w++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 200; i++ {
				c := pluginstest.Ctx(t, pluginstest.Target("/a/x"))
				p.Rewrite(c)
				if c.UpstreamURI != "/b/x" || c.R.Header.Get("X-C") != "x" {
					t.Errorf("got %q %q", c.UpstreamURI, c.R.Header.Get("X-C"))
					return
				}
			}
		}()
	}
	for w := 0; w < 8; w++ {
		<-done
	}
}
