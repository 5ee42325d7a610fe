package redirect

import (
	"strings"
	"testing"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/pluginstest"
)

var _ plugins.RewritePhase = (*Plugin)(nil)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  string
		want string // substring of the error; "" means accepted
	}{
		{"uri", `{"uri":"/foo"}`, ""},
		{"regex_uri", `{"regex_uri":["^/test/(.*)","http://test.com/${1}"],"encode_uri":true}`, ""},
		{"http_to_https", `{"http_to_https":true}`, ""},
		{"uri with query", `{"uri":"$uri?a=1","append_query_string":true,"ret_code":307}`, ""},
		{"none", `{"ret_code":301}`, "value should match only one schema, but matches none"},
		{"uri and http_to_https", `{"uri":"/hello","http_to_https":true}`, "value should match only one schema, but matches both schemas 1 and 3"},
		{"uri and regex_uri", `{"uri":"/hello","regex_uri":["a","b"]}`, "matches both schemas 1 and 2"},
		{"short uri", `{"uri":"/"}`, `property "uri" validation failed: string too short, expected at least 2, got 1`},
		{"regex_uri one item", `{"regex_uri":["a"]}`, "expect array to have at least 2 items"},
		{"regex_uri three items", `{"regex_uri":["a","b","c"]}`, "expect array to have at most 2 items"},
		{"bad regex", `{"regex_uri":["(a","b"]}`, "invalid regex_uri ((a, b), err:error parsing regexp"},
		{"bad template", `{"regex_uri":["(a)","/$x"]}`, "invalid regex_uri ((a), /$x), err:invalid capturing variable name"},
		{"unclosed template brace", `{"regex_uri":["(a)","/${1"]}`, "invalid capturing variable name"},
		{"ret_code under 200", `{"uri":"/foo","ret_code":199}`, "expected 199 to be at least 200"},
		{"https and query", `{"http_to_https":true,"append_query_string":true}`, "only one of `http_to_https` and `append_query_string` can be configured."},
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
	tests := []struct {
		name     string
		cfg      string
		method   string
		target   string
		path     string // canonical path; "": the target's
		scheme   string // "": http
		proto    string // X-Forwarded-Proto
		want     int    // 0: the request goes on
		location string
	}{
		{"fixed uri", `{"uri":"/test/add"}`, "GET", "/hello", "", "", "", 302, "/test/add"},
		{"ret_code", `{"uri":"/test/add","ret_code":301}`, "GET", "/hello", "", "", "", 301, "/test/add"},
		{"$uri", `{"uri":"$uri/test/add"}`, "GET", "/hello", "", "", "", 302, "/hello/test/add"},
		{"${arg}", `{"uri":"$uri/test/a${arg_name}c"}`, "GET", "/hello?name=json", "", "", "", 302, "/hello/test/ajsonc"},
		{"$$", `{"uri":"/foo$$uri"}`, "GET", "/hello", "", "", "", 302, "/foo$/hello"},
		{"escaped var kept", `{"uri":"\\$uri/foo$uri\\$uri/bar"}`, "GET", "/hello", "", "", "", 302, `\$uri/foo/hello\$uri/bar`},
		{"missing var empty", `{"uri":"$uri/$bad_var/bar"}`, "GET", "/hello", "", "", "", 302, "/hello//bar"},
		{"name stops at dot", `{"uri":"$uri.html"}`, "GET", "/hello", "", "", "", 302, "/hello.html"},
		{"host and request_uri", `{"uri":"https://$host$request_uri"}`, "GET", "/hello?a=1", "", "", "", 302, "https://example.com/hello?a=1"},
		{"to https, GET", `{"http_to_https":true}`, "GET", "/hello?a=1", "", "", "", 301, "https://example.com/hello?a=1"},
		{"to https, HEAD", `{"http_to_https":true}`, "HEAD", "/hello", "", "", "", 301, "https://example.com/hello"},
		{"to https, POST", `{"http_to_https":true}`, "POST", "/hello", "", "", "", 308, "https://example.com/hello"},
		{"already https", `{"http_to_https":true}`, "GET", "/hello", "", "https", "", 0, ""},
		{"https behind a proxy", `{"http_to_https":true}`, "GET", "/hello", "", "", "https", 0, ""},
		{"http_to_https false", `{"http_to_https":false}`, "GET", "/hello", "", "", "", 0, ""},
		{"regex_uri", `{"regex_uri":["^/test/(.*)","http://test.com/${1}"]}`, "GET", "/test/1", "", "", "", 302, "http://test.com/1"},
		{"regex_uri $1 then text", `{"regex_uri":["^/(\\w+)/(\\w+)","/$2x/$1"]}`, "GET", "/a/b/c", "", "", "", 302, "/bx/a/c"},
		{"regex_uri no match", `{"regex_uri":["^/test/(.*)","http://test.com/${1}"]}`, "GET", "/hello", "", "", "", 0, ""},
		{"regex_uri on canonical path", `{"regex_uri":["^/admin/(.*)","/login?next=$1"]}`, "GET", "/x/../admin/y", "/admin/y", "", "", 302, "/login?next=y"},
		{"regex_uri encoded", `{"regex_uri":["^/test/(.*)","http://test.com/${1}"],"encode_uri":true}`, "GET", "/test/with%20space", "/test/with space", "", "", 302, "http://test.com/with%20space"},
		{"encode keeps query", `{"uri":"/a b?c d","encode_uri":true}`, "GET", "/x", "", "", "", 302, "/a%20b?c d"},
		{"encode non-ascii", `{"uri":"$uri","encode_uri":true}`, "GET", "/caf%C3%A9", "/café", "", "", 302, "/caf%C3%A9"},
		{"append query", `{"uri":"$uri","append_query_string":true}`, "GET", "/hello?name=json", "", "", "", 302, "/hello?name=json"},
		{"append query after ?", `{"uri":"$uri?type=string","append_query_string":true}`, "GET", "/hello?name=json", "", "", "", 302, "/hello?type=string&name=json"},
		{"append without query", `{"uri":"$uri","append_query_string":true}`, "GET", "/hello", "", "", "", 302, "/hello"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pluginstest.Build(t, Spec, tt.cfg).(*Plugin)
			opts := []pluginstest.Option{pluginstest.Method(tt.method), pluginstest.Target(tt.target)}
			if tt.proto != "" {
				opts = append(opts, pluginstest.Header("X-Forwarded-Proto", tt.proto))
			}
			c := pluginstest.Ctx(t, opts...)
			if tt.path != "" {
				c.Path = tt.path
			}
			if tt.scheme != "" {
				c.Scheme = tt.scheme
			}
			got := p.Rewrite(c)
			if got.Status != tt.want || got.Body != nil {
				t.Fatalf("Rewrite = %d %q, want %d without body", got.Status, got.Body, tt.want)
			}
			if loc := c.W.Header().Get("Location"); loc != tt.location {
				t.Errorf("Location = %q, want %q", loc, tt.location)
			}
		})
	}
}

func TestTemplateSyntax(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/foo", "/foo"},
		{"$uri/x", "${uri}/x"},
		{"${uri}x", "${uri}x"},
		{"$$uri", `\$${uri}`},
		{`\$uri`, `\\$uri`},
		{`a\b`, "ab"},
		{"${a b}", `\${a b}`},
		{"$", `\$`},
		{"$uri.html", "${uri}.html"},
	}
	for _, tt := range tests {
		if got := templateSyntax(tt.in); got != tt.want {
			t.Errorf("templateSyntax(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
