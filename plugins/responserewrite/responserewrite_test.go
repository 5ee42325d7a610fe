package responserewrite

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/pluginstest"
)

var (
	_ plugins.HeaderFilterPhase = (*Plugin)(nil)
	_ plugins.BodyFilterPhase   = (*Plugin)(nil)
	_ plugins.LogPhase          = (*Plugin)(nil)
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name, cfg, want string // want: "" accepted, else a substring of the error
	}{
		{"body and flat headers (APISIX TEST 1)", `{"body":"Hello world","headers":{"X-Server-id":3}}`, ""},
		{"everything", `{"status_code":403,"body":"SGVsbG8K","body_base64":true,"headers":{"add":["Cache-Control: no-cache","X-B : $remote_addr"],"set":{"X-S":"on","X-N":1.5},"remove":["Server"]},"vars":[["status","==",500]],"max_resp_body_size":10}`, ""},
		{"filters", `{"filters":[{"regex":"Hello","scope":"global","replace":"World","options":"jo"},{"regex":"(a)(b)","replace":"${2}$1$$"}]}`, ""},
		{"string vars", `{"vars":"status == 200","status_code":200}`, ""},
		{"empty vars", `{"vars":[],"body":""}`, ""},
		{"empty config", `{}`, ""},
		{"flat empty value", `{"headers":{"Content-Type":""}}`, ""},
		{"status 599 (APISIX TEST 2)", `{"status_code":599}`, `property "status_code" validation failed: expected 599 to be at most 598`},
		{"status 199", `{"status_code":199}`, `expected 199 to be at least 200`},
		{"status not integer", `{"status_code":2.5}`, `property "status_code" validation failed: wrong type: expected integer`},
		{"body is a number (APISIX TEST 3)", `{"body":2,"headers":{"X-Server-id":"3"}}`, `property "body" validation failed: wrong type: expected string, got number`},
		{"empty header name (APISIX TEST 10)", `{"status_code":200,"headers":{"":2}}`, "invalid field length in header"},
		{"object header value (APISIX TEST 11)", `{"status_code":200,"headers":{"X-Name":{}}}`, "invalid type as header value"},
		{"bad base64 (APISIX TEST 14)", `{"body":"1","body_base64":true}`, "invalid base64 content"},
		{"empty base64 body (APISIX TEST 21)", `{"body":"","body_base64":true}`, "invalid base64 content"},
		{"no base64 body (APISIX TEST 22)", `{"body_base64":true}`, "invalid base64 content"},
		{"bad vars (APISIX TEST 17)", `{"vars":[[]]}`, "failed to validate the 'vars' expression: rule too short"},
		{"vars not an array", `{"vars":{"a":1}}`, `property "vars" validation failed: wrong type: expected array`},
		{"body with filters", `{"body":"test","filters":[{"regex":"l","replace":"m"}]}`, "failed to validate dependent schema"},
		{"empty filters", `{"filters":[]}`, `property "filters" validation failed: expect array to have at least 1 items`},
		{"filter without replace", `{"filters":[{"regex":"l"}]}`, `property "filters" validation failed: failed to validate item 1: property "replace" is required`},
		{"filter without regex", `{"filters":[{"replace":"l"}]}`, `failed to validate item 1: property "regex" is required`},
		{"filter empty regex", `{"filters":[{"regex":"","replace":"m"}]}`, `property "regex" validation failed: string too short, expected at least 1, got 0`},
		{"filter empty scope", `{"filters":[{"regex":"l","replace":"m","scope":""}]}`, `property "scope" validation failed: matches none of the enum values`},
		{"filter bad scope", `{"filters":[{"regex":"l","replace":"m"},{"regex":"l","replace":"m","scope":"two"}]}`, `failed to validate item 2: property "scope"`},
		{"filter unknown option (APISIX TEST 6)", `{"filters":[{"regex":"hello","replace":"HELLO","options":"h"}]}`, `regex "hello" validation failed: unknown flag "h" (flags "h")`},
		{"filter x option", `{"filters":[{"regex":"hello","replace":"HELLO","options":"x"}]}`, `not supported`},
		{"filter bad regex", `{"filters":[{"regex":"(","replace":"m"}]}`, `regex "(" validation failed`},
		{"filter PCRE-only regex", `{"filters":[{"regex":"a(?=b)","replace":"m"}]}`, `validation failed`},
		{"filter bad replacement", `{"filters":[{"regex":"a","replace":"$x"}]}`, `invalid capturing variable name`},
		{"max_resp_body_size 0", `{"max_resp_body_size":0,"filters":[{"regex":"a","replace":"b"}]}`, `property "max_resp_body_size" validation failed: expected 0 to be at least 1`},
		{"add with object item (APISIX 2 TEST 19)", `{"headers":{"add":[["headers:"]]}}`, "object matches none of the required"},
		{"add without colon", `{"headers":{"add":["headers"]}}`, "object matches none of the required"},
		{"add ending in slash", `{"headers":{"add":["Link: /a/"]}}`, "object matches none of the required"},
		{"add APISIX cannot parse", `{"headers":{"add":["X A: b"]}}`, `is not "Name: value"`},
		{"remove with object item", `{"headers":{"remove":[["headers:"]]}}`, "object matches none of the required"},
		{"set as array", `{"headers":{"set":[["headers"]]}}`, "object matches none of the required"},
		{"set empty name", `{"headers":{"set":{"":1}}}`, "object matches none of the required"},
		{"set boolean value", `{"headers":{"set":{"a":true}}}`, "object matches none of the required"},
		{"empty add", `{"headers":{"add":[]}}`, "object matches none of the required"},
		{"remove with colon", `{"headers":{"remove":["a:b"]}}`, "object matches none of the required"},
		{"mixed forms", `{"headers":{"set":{"X-A":"1"},"X-B":"2"}}`, "cannot be mixed"},
		{"header name not a token", `{"headers":{"X A":"1"}}`, "invalid field character"},
		{"literal LF in a value", `{"headers":{"set":{"X-A":"a\nb"}}}`, "invalid value character"},
		{"literal CR in a flat value", `{"headers":{"X-A":"a\r$uri"}}`, "invalid value character"},
		{"headers not an object", `{"headers":"x"}`, `property "headers" validation failed`},
		{"unknown field", `{"body":"a","bodies":"b"}`, "unknown field"},
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

// response runs header_filter and body_filter over an upstream response given in chunks,
// as the proxy would; it returns the status, headers and body the client gets.
func response(t *testing.T, p *Plugin, c *plugins.Ctx, status int, hdr http.Header, chunks ...string) (int, http.Header, string) {
	t.Helper()
	c.Status = status
	h := c.W.Header()
	for k, v := range hdr {
		h[k] = v
	}
	p.HeaderFilter(c)
	var out bytes.Buffer
	for i, ch := range chunks {
		out.Write(p.BodyFilter(c, []byte(ch), i == len(chunks)-1))
	}
	if len(chunks) == 0 {
		out.Write(p.BodyFilter(c, nil, true))
	}
	p.Log(c)
	return c.Status, h, out.String()
}

func TestResponse(t *testing.T) {
	upstream := http.Header{
		"Content-Type":     {"application/xml"},
		"Content-Length":   {"12"},
		"Last-Modified":    {"Wed, 21 Oct 2015 07:28:00 GMT"},
		"Etag":             {`"33a64df5"`},
		"X-Server-Id":      {"100"},
		"Content-Encoding": {"identity"},
		"Vary":             {"x"},
	}
	tests := []struct {
		name, cfg string
		status    int
		chunks    []string
		wantCode  int
		wantBody  string
		want      http.Header // only these names are compared; nil value: absent
	}{
		{"flat headers and body (APISIX TEST 4-5)", `{"headers":{"X-Server-id":3,"X-Server-status":"on","Content-Type":""},"body":"new body\n"}`,
			200, []string{"hello ", "world\n"}, 200, "new body\n",
			http.Header{"X-Server-Id": {"3"}, "X-Server-Status": {"on"}, "Content-Type": nil, "Content-Length": nil}},
		{"body only keeps headers, drops length, encoding, validators (APISIX TEST 7)", `{"body":"new body2\n"}`,
			200, []string{"hello world\n"}, 200, "new body2\n",
			http.Header{"X-Server-Id": {"100"}, "Content-Type": {"application/xml"}, "Content-Length": nil, "Content-Encoding": nil, "Last-Modified": nil, "Etag": nil, "Vary": {"x"}}},
		{"302 with Location (APISIX TEST 8-9)", `{"headers":{"Location":"https://www.iresty.com"},"status_code":302}`,
			200, []string{"hello world\n"}, 302, "hello world\n",
			http.Header{"Location": {"https://www.iresty.com"}, "Content-Length": {"12"}, "Content-Encoding": {"identity"}}},
		{"base64 body (APISIX TEST 13)", `{"body":"SGVsbG8K","body_base64":true}`, 200, []string{"hello world\n"}, 200, "Hello\n", nil},
		{"unpadded base64 body", `{"body":"SGVsbG8","body_base64":true}`, 200, []string{"x"}, 200, "Hello", nil},
		{"vars match: status and body (APISIX TEST 19)", `{"body":"new body3\n","status_code":403,"vars":[["status","==",500]]}`,
			500, []string{"oops"}, 403, "new body3\n", nil},
		{"vars do not match (APISIX TEST 20)", `{"body":"new body3\n","status_code":403,"vars":[["status","==",500]]}`,
			200, []string{"hello ", "world\n"}, 200, "hello world\n", http.Header{"Content-Length": {"12"}}},
		{"string vars", `{"headers":{"set":{"X-A":"1"}},"vars":"status >= 500"}`, 502, nil, 502, "", http.Header{"X-A": {"1"}}},
		{"header variables (APISIX TEST 24)", `{"headers":{"X-A":"$remote_addr","X-B":"from $remote_addr to ${http_x_none ?? none}"}}`,
			200, []string{"x"}, 200, "x", http.Header{"X-A": {"127.0.0.1"}, "X-B": {"from 127.0.0.1 to none"}}},
		{"empty body (APISIX TEST 26)", `{"body":""}`, 200, []string{"hello"}, 200, "", nil},
		{"empty upstream body replaced", `{"body":"new"}`, 200, nil, 200, "new", nil},
		{"add appends (APISIX 2 TEST 21)", `{"headers":{"add":["Cache-Control: no-cache","Cache-Control : max-age=0, must-revalidate"]}}`,
			200, []string{"x"}, 200, "x", http.Header{"Cache-Control": {"no-cache", "max-age=0, must-revalidate"}}},
		{"set after add (APISIX 2 TEST 23)", `{"headers":{"add":["Cache-Control: no-cache"],"set":{"Cache-Control":"max-age=0, must-revalidate"}}}`,
			200, []string{"x"}, 200, "x", http.Header{"Cache-Control": {"max-age=0, must-revalidate"}}},
		{"remove last (APISIX 2 TEST 25)", `{"headers":{"add":["Set-Cookie: <cookie-name>=<cookie-value>; Max-Age=<number>"],"set":{"Cache-Control":"max-age=0"},"remove":["Set-Cookie","Cache-Control","x-server-id"]}}`,
			200, []string{"x"}, 200, "x", http.Header{"Set-Cookie": nil, "Cache-Control": nil, "X-Server-Id": nil}},
		{"CRLF from a variable is dropped", `{"headers":{"set":{"X-Inj":"v=$arg_v","X-Ok":"fine"},"add":["X-Add: $arg_v"]}}`,
			200, []string{"x"}, 200, "x", http.Header{"X-Inj": nil, "X-Ok": {"fine"}, "X-Add": nil}},
		{"filter once (APISIX 2 TEST 8)", `{"vars":[["status","==",200]],"filters":[{"regex":"hello","replace":"test"}]}`,
			200, []string{"hel", "lo world hello\n"}, 200, "test world hello\n", http.Header{"Content-Length": nil, "Content-Encoding": nil, "Etag": nil}},
		{"filter global (APISIX 2 TEST 10)", `{"filters":[{"regex":"l","replace":"t","scope":"global"}]}`, 200, []string{"hello world\n"}, 200, "hetto wortd\n", nil},
		{"filter replaces with empty (APISIX 2 TEST 12)", `{"filters":[{"regex":"hello","replace":""}]}`, 200, []string{"hello world\n"}, 200, " world\n", nil},
		{"filter words (APISIX 2 TEST 14)", `{"filters":[{"regex":"\\w\\S+$","replace":"*"}]}`, 200, []string{"hello world"}, 200, "hello *", nil},
		{"filters in order (APISIX 2 TEST 16)", `{"filters":[{"regex":"hello","replace":"HELLO"},{"regex":"L","replace":"T"}]}`, 200, []string{"hello world\n"}, 200, "HETLO world\n", nil},
		{"filter no match (APISIX 2 TEST 18)", `{"filters":[{"regex":"test","replace":"TEST"}]}`, 200, []string{"hello ", "world\n"}, 200, "hello world\n", nil},
		{"filter captures", `{"filters":[{"regex":"(\\w+) (\\w+)","replace":"$2 ${1}$$","scope":"global"}]}`, 200, []string{"ab cd ef gh"}, 200, "cd ab$ gh ef$", nil},
		{"filter case-insensitive option", `{"filters":[{"regex":"HELLO","replace":"x","options":"ijo"}]}`, 200, []string{"hello"}, 200, "x", nil},
		{"filter anchored option", `{"filters":[{"regex":"o","replace":"0","scope":"global","options":"a"}]}`, 200, []string{"foo"}, 200, "foo", nil},
		{"body truncated to max_resp_body_size (APISIX TEST 29)", `{"max_resp_body_size":5,"filters":[{"regex":"hello","replace":"HELLO"}]}`,
			200, []string{"hel", "lo world\n"}, 200, "HELLO", nil},
		{"filters with vars not matching pass chunks", `{"vars":[["status","==",200]],"filters":[{"regex":"a","replace":"b"}]}`,
			404, []string{"aa", "aa"}, 404, "aaaa", http.Header{"Content-Length": {"12"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := unwrap(pluginstest.Build(t, Spec, tt.cfg))
			c := pluginstest.Ctx(t, pluginstest.Target("/with_header?v=a%0D%0ASet-Cookie:%20x"))
			code, h, body := response(t, p, c, tt.status, upstream.Clone(), tt.chunks...)
			if code != tt.wantCode {
				t.Errorf("status = %d, want %d", code, tt.wantCode)
			}
			if body != tt.wantBody {
				t.Errorf("body = %q, want %q", body, tt.wantBody)
			}
			for k, want := range tt.want {
				if got := h[k]; !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if n := states(p, c); n != 0 {
				t.Errorf("%d states left after the response", n)
			}
		})
	}
}

// states counts the request states p still holds in cs' plugin state.
func states(p *Plugin, cs ...*plugins.Ctx) int {
	n := 0
	for _, c := range cs {
		if c.PluginState(p) != nil {
			n++
		}
	}
	return n
}

func gz(t *testing.T, s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	zw.Close()
	return b.Bytes()
}

func TestFiltersEncoding(t *testing.T) {
	const cfg = `{"filters":[{"regex":"hello","replace":"test"}]}`
	t.Run("gzip body is decoded (APISIX 3 TEST 6)", func(t *testing.T) {
		p := unwrap(pluginstest.Build(t, Spec, cfg))
		c := pluginstest.Ctx(t)
		enc := gz(t, "hello world\n")
		code, h, body := response(t, p, c, 200, http.Header{"Content-Encoding": {"gzip"}}, string(enc[:5]), string(enc[5:]))
		if code != 200 || body != "test world\n" || h.Get("Content-Encoding") != "" {
			t.Errorf("got %d %q encoding %q", code, body, h.Get("Content-Encoding"))
		}
	})
	t.Run("unknown encoding: left untouched", func(t *testing.T) {
		p := unwrap(pluginstest.Build(t, Spec, cfg))
		c := pluginstest.Ctx(t)
		_, h, body := response(t, p, c, 200, http.Header{"Content-Encoding": {"br"}, "Content-Length": {"5"}}, "hello")
		if body != "hello" || h.Get("Content-Encoding") != "br" || h.Get("Content-Length") != "5" {
			t.Errorf("got %q %v", body, h)
		}
	})
	t.Run("body replaces whatever the encoding (APISIX 3 TEST 8)", func(t *testing.T) {
		p := unwrap(pluginstest.Build(t, Spec, `{"vars":[["status","==",200]],"body":"new body\n"}`))
		c := pluginstest.Ctx(t)
		_, h, body := response(t, p, c, 200, http.Header{"Content-Encoding": {"deflate"}}, "xx")
		if body != "new body\n" || h.Get("Content-Encoding") != "" {
			t.Errorf("got %q %v", body, h)
		}
	})
	t.Run("headers only keep the encoding (APISIX 3 TEST 14)", func(t *testing.T) {
		p := unwrap(pluginstest.Build(t, Spec, `{"headers":{"set":{"X-Server-id":3}}}`))
		c := pluginstest.Ctx(t)
		_, h, body := response(t, p, c, 200, http.Header{"Content-Encoding": {"deflate"}}, "xx")
		if body != "xx" || h.Get("Content-Encoding") != "deflate" || h.Get("X-Server-Id") != "3" {
			t.Errorf("got %q %v", body, h)
		}
	})
}

// TestAbortedResponse: a response cut before its last chunk leaves no state behind (Log
// drops it), and a stale state on a reused Ctx does not leak into the next request.
func TestAbortedResponse(t *testing.T) {
	p := unwrap(pluginstest.Build(t, Spec, `{"filters":[{"regex":"a","replace":"b"}]}`))
	c := pluginstest.Ctx(t)
	c.Status = 200
	p.HeaderFilter(c)
	p.BodyFilter(c, []byte("aaa"), false)
	p.Log(c)
	if n := states(p, c); n != 0 {
		t.Fatalf("%d states after Log", n)
	}
	p.HeaderFilter(c)
	p.BodyFilter(c, []byte("stale "), false)
	// the same Ctx serves the next request without Log having run
	c.W.Header().Del("Content-Length")
	p.HeaderFilter(c)
	if got := string(p.BodyFilter(c, []byte("a"), true)); got != "b" {
		t.Errorf("next request's body = %q, want %q", got, "b")
	}
}

func TestResponse_hammer(t *testing.T) {
	p := unwrap(pluginstest.Build(t, Spec, `{"vars":[["arg_n","~~","^[0-9]+$"]],"filters":[{"regex":"(\\d+)","replace":"<$1>","scope":"global"}],"headers":{"set":{"X-N":"$arg_n"}}}`))
	var wg sync.WaitGroup
	var left atomic.Int64
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				n := fmt.Sprint(w*1000 + i)
				c := pluginstest.Ctx(t, pluginstest.Target("/?n="+n))
				_, h, body := response(t, p, c, 200, http.Header{}, "a"+n[:1], n[1:]+"b")
				left.Add(int64(states(p, c)))
				if want := "a<" + n + ">b"; body != want || h.Get("X-N") != n {
					t.Errorf("got %q %q, want %q", body, h.Get("X-N"), want)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := left.Load(); n != 0 {
		t.Errorf("%d states left", n)
	}
}

// TestBodyFilterOnlyWhenBodyChanges: a config that changes no body builds an instance
// with no body filter (the proxy then keeps the upstream's Content-Length); body or
// filters need one.
func TestBodyFilterOnlyWhenBodyChanges(t *testing.T) {
	tests := []struct {
		cfg        string
		bodyFilter bool
	}{
		{`{"headers":{"set":{"X-A":"1"}}}`, false},
		{`{"status_code":201}`, false},
		{`{"headers":{"remove":["Server"]},"vars":[["status","==",200]]}`, false},
		{`{"body":"x"}`, true},
		{`{"filters":[{"regex":"a","replace":"b"}]}`, true},
	}
	for _, tt := range tests {
		d, err := plugins.NewRegistry(Spec).Decode(Spec.Name, []byte(tt.cfg))
		if err != nil {
			t.Fatalf("%s: %v", tt.cfg, err)
		}
		inst, err := Spec.Build(d.Config)
		if err != nil {
			t.Fatalf("%s: %v", tt.cfg, err)
		}
		if _, ok := inst.(plugins.BodyFilterPhase); ok != tt.bodyFilter {
			t.Errorf("%s: body filter %v, want %v", tt.cfg, ok, tt.bodyFilter)
		}
		if _, ok := inst.(plugins.HeaderFilterPhase); !ok {
			t.Errorf("%s: no header filter", tt.cfg)
		}
	}
}

// unwrap is the *Plugin of an instance, headersOnly's included.
func unwrap(inst any) *Plugin {
	if h, ok := inst.(headersOnly); ok {
		return h.p
	}
	return inst.(*Plugin)
}
