package uriblocker

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
		{"rules", `{"block_rules":["root.exe","root.m+"]}`, ""},
		{"all fields", `{"block_rules":["^/admin"],"rejected_code":410,"rejected_msg":"gone","case_insensitive":true}`, ""},
		{"missing rules", `{}`, `property "block_rules" is required`},
		{"bad regex", `{"block_rules":[".+("]}`, "block_rules item 1: error parsing regexp"},
		{"one bad regex", `{"block_rules":["^a","^b("]}`, "block_rules item 2"},
		{"empty rule", `{"block_rules":[""]}`, "failed to validate item 1: string too short"},
		{"long rule", `{"block_rules":["` + strings.Repeat("a", 4097) + `"]}`, "string too long"},
		{"repeated rule", `{"block_rules":["a","a"]}`, "expected unique items but items 1 and 2 are equal"},
		{"code under 200", `{"block_rules":["a"],"rejected_code":199}`, "expected 199 to be at least 200"},
		{"empty msg", `{"block_rules":["a"],"rejected_msg":""}`, `property "rejected_msg" validation failed: string too short, expected at least 1, got 0`},
		{"msg not a string", `{"block_rules":["a"],"rejected_msg":true}`, "cannot unmarshal"},
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
		name   string
		cfg    string
		target string // the request target as sent
		path   string // the canonical path; "": the target's path
		want   int    // 0: the request goes on
		body   string
	}{
		{"blocked", `{"block_rules":["root.exe","root.m+"]}`, "/root.exe", "", 403, ""},
		{"blocked, second rule", `{"block_rules":["root.exe","root.m+"]}`, "/x/root.mmm", "", 403, ""},
		{"not blocked", `{"block_rules":["root.exe"]}`, "/index.html", "", 0, ""},
		{"query matched", `{"block_rules":["token=secret"]}`, "/a?token=secret", "", 403, ""},
		{"custom code and message", `{"block_rules":["^/admin"],"rejected_code":410,"rejected_msg":"gone"}`, "/admin", "", 410, `{"error_msg":"gone"}` + "\n"},
		{"case sensitive", `{"block_rules":["^/admin"]}`, "/ADMIN", "", 0, ""},
		{"case insensitive", `{"block_rules":["^/admin"],"case_insensitive":true}`, "/ADMIN", "", 403, ""},
		{"dot-dot canonicalised", `{"block_rules":["^/admin"]}`, "/public/../admin", "/admin", 403, ""},
		{"encoded dots canonicalised", `{"block_rules":["^/admin/"]}`, "/public/%2e%2e/admin/x?a=1", "/admin/x", 403, ""},
		{"double slash canonicalised", `{"block_rules":["^/admin$"]}`, "//admin", "/admin", 403, ""},
		{"canonical path with query", `{"block_rules":["^/admin\\?debug"]}`, "/x/../admin?debug=1", "/admin", 403, ""},
		{"raw target still matched", `{"block_rules":["%2e%2e"]}`, "/a/%2e%2e/b", "/b", 403, ""},
		{"empty rules block everything", `{"block_rules":[]}`, "/anything", "", 403, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pluginstest.Build(t, Spec, tt.cfg).(*Plugin)
			c := pluginstest.Ctx(t, pluginstest.Target(tt.target))
			if tt.path != "" {
				c.Path = tt.path
			}
			got := p.Rewrite(c)
			if got.Status != tt.want {
				t.Fatalf("Rewrite(%q, path %q) = %d, want %d", tt.target, c.Path, got.Status, tt.want)
			}
			if string(got.Body) != tt.body {
				t.Errorf("body = %q, want %q", got.Body, tt.body)
			}
		})
	}
}
