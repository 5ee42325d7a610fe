package requestvalidation

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/pluginstest"
)

var _ plugins.RewritePhase = (*Plugin)(nil)

const payloadSchema = `{"type":"object","required":["required_payload"],"properties":{"required_payload":{"type":"string"},"boolean_payload":{"type":"boolean"},"timeouts":{"type":"integer","minimum":1,"maximum":254,"default":3},"req_headers":{"type":"array","minItems":1,"items":{"type":"string"}}}}`

func TestValidate(t *testing.T) {
	long := strings.Repeat("x", 257)
	tests := []struct {
		name, cfg, want string // want: "" accepted, else a substring of the error
	}{
		{"empty body schema (APISIX TEST 1)", `{"body_schema":{}}`, ""},
		{"full body schema (APISIX TEST 3)", `{"body_schema":` + payloadSchema + `}`, ""},
		{"header schema", `{"header_schema":` + payloadSchema + `,"rejected_code":505,"rejected_msg":"no","max_req_body_size":10}`, ""},
		{"draft 4 boolean exclusiveMinimum", `{"body_schema":{"type":"object","properties":{"n":{"type":"number","minimum":0,"exclusiveMinimum":true}}}}`, ""},
		{"explicit draft 2020-12", `{"body_schema":{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","prefixItems":[{"type":"string"}]}}`, ""},
		{"internal $ref", `{"body_schema":{"definitions":{"s":{"type":"string"}},"properties":{"a":{"$ref":"#/definitions/s"}}}}`, ""},
		{"neither schema (APISIX TEST 2)", `{}`, "object matches none of the required"},
		{"rejected_msg only (APISIX TEST 44)", `{"rejected_msg":"customize reject message"}`, "object matches none of the required"},
		{"bad type (APISIX TEST 17)", `{"body_schema":{"type":"test"}}`, "invalid body_schema"},
		{"enum not an array (APISIX TEST 18)", `{"body_schema":{"type":"string","properties":{"test":{"type":"string","enum":"test-enum"}}}}`, "invalid body_schema"},
		{"required not an array (APISIX TEST 33)", `{"header_schema":{"type":"object","required":"test-required"}}`, "invalid header_schema"},
		{"schema not an object", `{"body_schema":"x"}`, `property "body_schema" validation failed: wrong type: expected object, got string`},
		{"schema null", `{"header_schema":null}`, `wrong type: expected object, got null`},
		{"external file $ref", `{"body_schema":{"$ref":"file:///etc/passwd"}}`, "invalid body_schema"},
		{"error on one line", `{"body_schema":{"type":"object","properties":{"a":{"type":"test"}}}}`, "is not valid against metaschema: jsonschema validation failed"},
		{"external http $ref", `{"body_schema":{"$ref":"http://example.com/s.json"}}`, "invalid body_schema"},
		{"PCRE-only pattern", `{"body_schema":{"type":"string","pattern":"a(?=b)"}}`, "invalid body_schema"},
		{"rejected_msg too long (APISIX TEST 43)", `{"header_schema":{},"rejected_msg":"` + long + `"}`, `property "rejected_msg" validation failed: string too long, expected at most 256, got 257`},
		{"empty rejected_msg", `{"header_schema":{},"rejected_msg":""}`, `string too short`},
		{"rejected_code 10000 (APISIX TEST 49)", `{"header_schema":{},"rejected_code":10000}`, `property "rejected_code" validation failed: expected 10000 to be at most 599`},
		{"rejected_code 199", `{"header_schema":{},"rejected_code":199}`, `expected 199 to be at least 200`},
		{"rejected_code string", `{"header_schema":{},"rejected_code":"400"}`, `property "rejected_code" validation failed: wrong type: expected integer, got string`},
		{"max_req_body_size 0", `{"body_schema":{},"max_req_body_size":0}`, `property "max_req_body_size" validation failed: expected 0 to be at least 1`},
		{"unknown field", `{"body_schema":{},"schema":{}}`, "unknown field"},
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

func contentType(v string) pluginstest.Option { return pluginstest.Header("Content-Type", v) }

func TestRewrite(t *testing.T) {
	const bodyCfg = `{"body_schema":` + payloadSchema + `}`
	const headerCfg = `{"header_schema":` + payloadSchema + `}`
	const custom = `{"body_schema":{"type":"object","properties":{"test":{"type":"string","enum":["a","b","c"]}},"required":["test"]},"rejected_msg":"customize reject message for body_schema.required"}`
	tests := []struct {
		name, cfg string
		opts      []pluginstest.Option
		wantCode  int    // 0: goes on
		wantBody  string // the response body, or (when going on) the body the upstream gets
	}{
		{"body: required missing (APISIX TEST 4)", bodyCfg, []pluginstest.Option{contentType("application/json"), pluginstest.Body(`{"boolean-payload": true}`)},
			400, `property "required_payload" is required`},
		{"body: valid (APISIX TEST 5), re-encoded", bodyCfg, []pluginstest.Option{contentType("application/json"), pluginstest.Body(`{"boolean-payload": true, "required_payload": "hello", "n": 12345678901234567890}`)},
			0, `{"boolean-payload":true,"n":12345678901234567890,"required_payload":"hello"}`},
		{"body: nested wrong type", bodyCfg, []pluginstest.Option{pluginstest.Body(`{"required_payload":"x","req_headers":["a",1]}`)},
			400, `property "req_headers" validation failed: failed to validate item 2: wrong type: expected string, got number`},
		{"body: maximum", bodyCfg, []pluginstest.Option{pluginstest.Body(`{"required_payload":"x","timeouts":300}`)},
			400, `property "timeouts" validation failed: expected 300 to be at most 254`},
		{"body: duplicate key, last wins (APISIX 2 TEST 2)", `{"body_schema":{"type":"object","properties":{"k":{"pattern":"^good$"}}}}`, []pluginstest.Option{pluginstest.Body(`{"k":"bad","k":"good"}`)},
			0, `{"k":"good"}`},
		{"body: HTML kept unescaped", `{"body_schema":{}}`, []pluginstest.Option{pluginstest.Body(`{"h":"<a>&"}`)}, 0, `{"h":"<a>&"}`},
		{"body: not JSON", bodyCfg, []pluginstest.Option{pluginstest.Body(`{"a":`)}, 400, "failed to decode the req body"},
		{"body: empty, custom message (APISIX TEST 40)", custom, nil, 400, "customize reject message for body_schema.required"},
		{"body: bad value, custom message (APISIX TEST 41)", custom, []pluginstest.Option{pluginstest.Body(`{"test":"abc"}`)}, 400, "customize reject message for body_schema.required"},
		{"body: passes custom rule (APISIX TEST 42)", custom, []pluginstest.Option{pluginstest.Body(`{"test":"a"}`)}, 0, `{"test":"a"}`},
		{"body: empty, no message", bodyCfg, []pluginstest.Option{pluginstest.Method("POST")}, 400, ""},
		{"body: custom code (APISIX TEST 46)", `{"body_schema":{"required":["test"]},"rejected_code":505}`, nil, 505, ""},
		{"body: form (APISIX TEST 52)", `{"body_schema":{"type":"object","required":["required_payload"],"properties":{"required_payload":{"type":"string"}}},"rejected_msg":"customize reject message"}`,
			[]pluginstest.Option{contentType("Application/X-WWW-Form-Urlencoded; charset=utf-8"), pluginstest.Body(strings.Repeat("a=b&", 101) + "required_payload=101-hello")},
			0, strings.Repeat("a=b&", 101) + "required_payload=101-hello"},
		{"body: form values are strings, flags true", `{"body_schema":{"properties":{"n":{"type":"string"},"f":{"type":"boolean"},"r":{"type":"array"}}}}`,
			[]pluginstest.Option{contentType("application/x-www-form-urlencoded"), pluginstest.Body("n=1&f&r=a+b&r=%41")}, 0, "n=1&f&r=a+b&r=%41"},
		{"body: form violates", `{"body_schema":{"properties":{"n":{"type":"integer"}}}}`,
			[]pluginstest.Option{contentType("application/x-www-form-urlencoded"), pluginstest.Body("n=1")}, 400, `property "n" validation failed: wrong type: expected integer, got string`},
		{"body: duplicated Content-Type (APISIX TEST 55)", `{"body_schema":{},"rejected_msg":"duplicated content-type"}`,
			[]pluginstest.Option{pluginstest.Body(`{}`), func(r *http.Request, c *plugins.Ctx) {
				r.Header["Content-Type"] = []string{"application/x-www-form-urlencoded", "application/json"}
			}}, 400, "duplicated content-type"},
		{"body: over max_req_body_size by Content-Length (APISIX TEST 58)", `{"max_req_body_size":10,"body_schema":{}}`,
			[]pluginstest.Option{pluginstest.Body(`{"required_payload": "this body is well over ten bytes"}`)}, 400, ""},
		{"body: over max_req_body_size, length unknown", `{"max_req_body_size":10,"body_schema":{}}`,
			[]pluginstest.Option{pluginstest.Body(`{"required_payload": "this body is well over ten bytes"}`), func(r *http.Request, c *plugins.Ctx) { r.ContentLength = -1 }}, 400, ""},
		{"body: exactly max_req_body_size", `{"max_req_body_size":8,"body_schema":{}}`, []pluginstest.Option{pluginstest.Body(`{"a": 1}`)}, 0, `{"a":1}`},
		{"header: required missing (APISIX TEST 7)", headerCfg, []pluginstest.Option{contentType("application/json")}, 400, `property "required_payload" is required`},
		{"header: present (APISIX TEST 8)", headerCfg, []pluginstest.Option{pluginstest.Header("Required_payload", "test payload"), pluginstest.Body("kept as is")}, 0, "kept as is"},
		{"header: names are lower-cased", `{"header_schema":{"required":["x-api-version","host"],"properties":{"x-api-version":{"enum":["v1","v2"]}}}}`,
			[]pluginstest.Option{pluginstest.Header("X-Api-Version", "v2")}, 0, ""},
		{"header: repeated header is an array", `{"header_schema":{"properties":{"x-a":{"type":"string"}}}}`,
			[]pluginstest.Option{func(r *http.Request, c *plugins.Ctx) { r.Header["X-A"] = []string{"1", "2"} }}, 400, `property "x-a" validation failed: wrong type: expected string, got array`},
		{"header: bad value, custom message (APISIX TEST 37)", `{"header_schema":{"type":"object","properties":{"test":{"type":"string","enum":["a","b","c"]}},"required":["test"]},"rejected_msg":"customize reject message for header_schema.required"}`,
			[]pluginstest.Option{pluginstest.Header("test", "abc")}, 400, "customize reject message for header_schema.required"},
		{"header checked before body", `{"header_schema":{"required":["x-k"]},"body_schema":{"required":["a"]}}`, []pluginstest.Option{pluginstest.Body(`{}`)}, 400, `property "x-k" is required`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pluginstest.Build(t, Spec, tt.cfg).(*Plugin)
			c := pluginstest.Ctx(t, tt.opts...)
			res := p.Rewrite(c)
			if res.Status != tt.wantCode {
				t.Fatalf("status = %d (body %q), want %d", res.Status, res.Body, tt.wantCode)
			}
			if tt.wantCode != 0 {
				if string(res.Body) != tt.wantBody && !(strings.HasPrefix(tt.wantBody, "failed") && strings.HasPrefix(string(res.Body), tt.wantBody)) {
					t.Errorf("body = %q, want %q", res.Body, tt.wantBody)
				}
				return
			}
			if p.body == nil {
				b, _ := io.ReadAll(c.R.Body)
				if string(b) != tt.wantBody {
					t.Errorf("upstream body = %q, want %q", b, tt.wantBody)
				}
				return
			}
			b, _ := io.ReadAll(c.R.Body)
			if string(b) != tt.wantBody {
				t.Errorf("upstream body = %q, want %q", b, tt.wantBody)
			}
			if c.R.ContentLength != int64(len(b)) {
				t.Errorf("ContentLength = %d, body has %d bytes", c.R.ContentLength, len(b))
			}
		})
	}
}

func TestContentLengthHeaderFixed(t *testing.T) {
	p := pluginstest.Build(t, Spec, `{"body_schema":{}}`).(*Plugin)
	c := pluginstest.Ctx(t, pluginstest.Body(`{ "a" : 1 }`), pluginstest.Header("Content-Length", "11"))
	c.R.TransferEncoding = []string{"chunked"}
	if res := p.Rewrite(c); res.Stopped() {
		t.Fatalf("refused: %d %s", res.Status, res.Body)
	}
	if got := c.R.Header.Get("Content-Length"); got != "7" || c.R.ContentLength != 7 || c.R.TransferEncoding != nil {
		t.Errorf("Content-Length %q, ContentLength %d, TransferEncoding %v", got, c.R.ContentLength, c.R.TransferEncoding)
	}
	if c.R.GetBody == nil {
		t.Fatal("GetBody not set")
	}
	rc, _ := c.R.GetBody()
	if b, _ := io.ReadAll(rc); string(b) != `{"a":1}` {
		t.Errorf("GetBody = %q", b)
	}
}

func TestRewrite_hammer(t *testing.T) {
	p := pluginstest.Build(t, Spec, `{"header_schema":{"required":["x-id"]},"body_schema":{"properties":{"id":{"type":"integer","minimum":0}},"required":["id"]}}`).(*Plugin)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				id := i
				if w%2 == 1 {
					id = -i - 1
				}
				c := pluginstest.Ctx(t, pluginstest.Header("X-Id", "1"), pluginstest.Body(`{"id":`+itoa(id)+`}`))
				res := p.Rewrite(c)
				if (id >= 0) == res.Stopped() {
					t.Errorf("id %d: status %d", id, res.Status)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func itoa(n int) string {
	if n < 0 {
		return "-" + itoa(-n)
	}
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
