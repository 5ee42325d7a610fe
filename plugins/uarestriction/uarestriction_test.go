package uarestriction

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
		{"allowlist", `{"allowlist":["^curl/", "(Chrome|Firefox)"]}`, ""},
		{"denylist, bypass", `{"denylist":["bot"],"bypass_missing":true,"message":"no bots"}`, ""},
		{"neither", `{"bypass_missing":true}`, "value should match only one schema, but matches none"},
		{"both", `{"allowlist":["a"],"denylist":["b"]}`, "matches both schemas 1 and 2"},
		{"empty list", `{"denylist":[]}`, `property "denylist" validation failed: expect array to have at least 1 items`},
		{"empty rule", `{"allowlist":["a",""]}`, "failed to validate item 2: string too short"},
		{"bad regex", `{"denylist":["ok","(bot"]}`, "denylist item 2: error parsing regexp"},
		{"empty message", `{"denylist":["bot"],"message":""}`, `property "message" validation failed: string too short`},
		{"long message", `{"denylist":["bot"],"message":"` + strings.Repeat("x", 1025) + `"}`, "string too long"},
		{"wrong type", `{"denylist":"bot"}`, "cannot unmarshal"},
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
	tests := []struct {
		name string
		cfg  string
		uas  []string // nil: no User-Agent
		want int      // 0: the request goes on
		body string
	}{
		{"allowed", `{"allowlist":["^curl/"]}`, []string{"curl/8.0"}, 0, ""},
		{"not allowed", `{"allowlist":["^curl/"]}`, []string{"Mozilla/5.0"}, 403, `{"message":"Not allowed"}`},
		{"allowed after trim", `{"allowlist":["^curl/"]}`, []string{"  curl/8.0 "}, 0, ""},
		{"one of two lines allowed", `{"allowlist":["^curl/"]}`, []string{"Mozilla/5.0", "curl/8.0"}, 0, ""},
		{"denied", `{"denylist":["bot","spider"]}`, []string{"Googlebot/2.1"}, 403, `{"message":"Not allowed"}`},
		{"denied second rule, custom message", `{"denylist":["bot","spider"],"message":"go"}`, []string{"a spider"}, 403, `{"message":"go"}`},
		{"one of two lines denied", `{"denylist":["bot"]}`, []string{"Mozilla/5.0", "bot"}, 403, ""},
		{"not denied", `{"denylist":["bot"]}`, []string{"Mozilla/5.0"}, 0, ""},
		{"case sensitive", `{"denylist":["bot"]}`, []string{"BOT"}, 0, ""},
		{"missing", `{"denylist":["bot"]}`, nil, 403, `{"message":"Not allowed"}`},
		{"missing, bypass", `{"allowlist":["curl"],"bypass_missing":true}`, nil, 0, ""},
		{"empty value is not missing", `{"allowlist":["curl"],"bypass_missing":true}`, []string{""}, 403, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pluginstest.Build(t, Spec, tt.cfg).(*Plugin)
			c := pluginstest.Ctx(t)
			c.R.Header.Del("User-Agent")
			for _, ua := range tt.uas {
				c.R.Header.Add("User-Agent", ua)
			}
			got := p.Access(c)
			if got.Status != tt.want {
				t.Fatalf("Access(%q) = %d, want %d", tt.uas, got.Status, tt.want)
			}
			if tt.body != "" && string(got.Body) != tt.body+"\n" {
				t.Errorf("body = %s, want %s", got.Body, tt.body)
			}
		})
	}
}
