package iprestriction

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
		{"whitelist", `{"whitelist":["10.0.0.0/8","192.0.2.1","::1","fe80::/32","2001:DB8:0:23:8:800:200C:417A"]}`, ""},
		{"blacklist, 404", `{"blacklist":["10.0.0.0/8"],"response_code":404,"message":"go away"}`, ""},
		{"neither", `{}`, "value should match only one schema, but matches none"},
		{"both", `{"whitelist":["10.0.0.0/8"],"blacklist":["10.0.0.1"]}`, "matches both schemas 1 and 2"},
		{"empty list", `{"blacklist":[]}`, "expect array to have at least 1 items"},
		{"bad v4 mask", `{"whitelist":["10.255.254.0/38","192.168.0.0/16"]}`, `property "whitelist" validation failed: failed to validate item 1: object matches none of the required`},
		{"not an ip", `{"blacklist":["10.0.0.1","example.com"]}`, "failed to validate item 2"},
		{"bad v6 mask", `{"blacklist":["::1/129"]}`, "invalid ip address: ::1/129"},
		{"empty message", `{"blacklist":["10.0.0.1"],"message":""}`, `property "message" validation failed: string too short`},
		{"long message", `{"blacklist":["10.0.0.1"],"message":"` + strings.Repeat("x", 1025) + `"}`, "string too long"},
		{"code 402", `{"blacklist":["10.0.0.1"],"response_code":402}`, "expected 402 to be at least 403"},
		{"code 409", `{"blacklist":["10.0.0.1"],"response_code":409}`, "expected 409 to be at most 404"},
		{"unknown field", `{"blacklist":["10.0.0.1"],"whitelists":["10.0.0.1"]}`, "unknown field"},
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
		addr string
		want int // 0: the request goes on
		body string
	}{
		{"in whitelist", `{"whitelist":["10.0.0.0/8"]}`, "10.1.2.3", 0, ""},
		{"missing from whitelist", `{"whitelist":["10.0.0.0/8"]}`, "192.0.2.7", 403, `{"message":"Your IP address is not allowed"}`},
		{"host bits masked", `{"whitelist":["10.1.2.3/8"]}`, "10.200.0.1", 0, ""},
		{"blacklisted", `{"blacklist":["192.0.2.7"]}`, "192.0.2.7", 403, `{"message":"Your IP address is not allowed"}`},
		{"not blacklisted", `{"blacklist":["192.0.2.7"]}`, "192.0.2.8", 0, ""},
		{"blacklisted, custom code and message", `{"blacklist":["192.0.2.0/24"],"response_code":404,"message":"nope"}`, "192.0.2.7", 404, `{"message":"nope"}`},
		{"v6 whitelist", `{"whitelist":["fe80::/32"]}`, "fe80::1", 0, ""},
		{"v6 blacklist", `{"blacklist":["fe80::/32"]}`, "fe80::1", 403, ""},
		{"v4-mapped client", `{"blacklist":["192.0.2.7"]}`, "::ffff:192.0.2.7", 403, ""},
		{"not a valid address, blacklist", `{"blacklist":["192.0.2.7"]}`, "", 403, ""},
		{"not a valid address, whitelist", `{"whitelist":["0.0.0.0/0"]}`, "", 403, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pluginstest.Build(t, Spec, tt.cfg).(*Plugin)
			got := p.Access(pluginstest.Ctx(t, pluginstest.ClientAddr(tt.addr)))
			if got.Status != tt.want {
				t.Fatalf("Access(%q) = %d, want %d", tt.addr, got.Status, tt.want)
			}
			if tt.body != "" && string(got.Body) != tt.body+"\n" {
				t.Errorf("body = %s, want %s", got.Body, tt.body)
			}
		})
	}
}
