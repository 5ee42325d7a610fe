package refererrestriction

import (
	"strings"
	"testing"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/pluginstest"
)

var _ plugins.AccessPhase = (*Plugin)(nil)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  string
		want string // substring of the error; "" means accepted
	}{
		{"whitelist", `{"whitelist":["xx.com","*.xx.com","*","[::1]:80"]}`, ""},
		{"blacklist, bypass", `{"blacklist":["yy.com"],"bypass_missing":true,"message":"no"}`, ""},
		{"neither", `{"bypass_missing":true}`, "value should match only one schema, but matches none"},
		{"both", `{"whitelist":["xx.com"],"blacklist":["yy.com"]}`, "matches both schemas 1 and 2"},
		{"empty list", `{"whitelist":[]}`, `property "whitelist" validation failed: expect array to have at least 1 items`},
		{"bad host", `{"whitelist":["xx.com","a/b"]}`, `failed to validate item 2: failed to match pattern`},
		{"star inside", `{"blacklist":["a.*.com"]}`, `failed to validate item 1`},
		{"empty message", `{"blacklist":["yy.com"],"message":""}`, `property "message" validation failed: string too short`},
		{"long message", `{"blacklist":["yy.com"],"message":"` + strings.Repeat("x", 1025) + `"}`, "string too long"},
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

func TestAccess(t *testing.T) {
	const white = `{"whitelist":["xx.com","*.xx.com"]}`
	tests := []struct {
		name    string
		cfg     string
		referer string // "-": no header
		want    int    // 0: the request goes on
		body    string
	}{
		{"whitelisted", white, "http://xx.com/x", 0, ""},
		{"whitelisted with port", white, "https://xx.com:8443/x?y", 0, ""},
		{"whitelisted by suffix", white, "http://www.xx.com", 0, ""},
		{"suffix needs the dot", white, "http://yxx.com", 403, `{"message":"Your referer host is not allowed"}`},
		{"not whitelisted", white, "http://yy.com/x", 403, ""},
		{"scheme-relative", white, "//xx.com/x", 0, ""},
		{"no scheme", white, "xx.com/x", 403, ""},
		{"missing", white, "-", 403, ""},
		{"missing, bypass", `{"whitelist":["xx.com"],"bypass_missing":true}`, "-", 0, ""},
		{"unparsable, bypass", `{"whitelist":["xx.com"],"bypass_missing":true}`, "ftp://xx.com", 0, ""},
		{"blacklisted", `{"blacklist":["yy.com"],"message":"go"}`, "http://yy.com/", 403, `{"message":"go"}`},
		{"not blacklisted", `{"blacklist":["yy.com"]}`, "http://xx.com/", 0, ""},
		{"star matches all", `{"blacklist":["*"]}`, "http://any.host/", 403, ""},
		{"ipv6 literal", `{"whitelist":["[::1]"]}`, "http://[::1]:8080/x", 0, ""},
		{"case kept", white, "http://XX.com/", 403, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pluginstest.Build(t, Spec, tt.cfg).(*Plugin)
			var opts []pluginstest.Option
			if tt.referer != "-" {
				opts = append(opts, pluginstest.Header("Referer", tt.referer))
			}
			got := p.Access(pluginstest.Ctx(t, opts...))
			if got.Status != tt.want {
				t.Fatalf("Access(%q) = %d, want %d", tt.referer, got.Status, tt.want)
			}
			if tt.body != "" && string(got.Body) != tt.body+"\n" {
				t.Errorf("body = %s, want %s", got.Body, tt.body)
			}
		})
	}
}
