package health

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		json string
		want string // "" valid; otherwise a substring of the error
	}{
		{"minimal", `{"active":{}}`, ""},
		{"full, APISIX docs example", `{"active":{"type":"http","timeout":5,"http_path":"/status","host":"foo.com",
			"healthy":{"interval":2,"successes":1},"unhealthy":{"interval":1,"http_failures":2},
			"req_headers":["User-Agent: curl/7.29.0"]},"passive":{"healthy":{"http_statuses":[200,201],"successes":3},
			"unhealthy":{"http_statuses":[500],"http_failures":3,"tcp_failures":3}}}`, ""},
		{"fractional interval", `{"active":{"healthy":{"interval":0.05},"unhealthy":{"interval":0.05}}}`, ""},
		{"no active", `{"passive":{}}`, "checks.active: required"},
		{"nothing", `{}`, "checks.active: required"},
		{"bad type", `{"active":{"type":"udp"}}`, `checks.active.type: "udp" is not one of http, https, tcp`},
		{"successes too many", `{"active":{"healthy":{"successes":255}}}`, "checks.active.healthy.successes: must be between 1 and 254"},
		{"negative failures", `{"active":{"unhealthy":{"http_failures":-1}}}`, "checks.active.unhealthy.http_failures: must be between 1 and 254"},
		{"tcp failures", `{"active":{"unhealthy":{"tcp_failures":300}}}`, "checks.active.unhealthy.tcp_failures"},
		{"timeouts", `{"active":{"unhealthy":{"timeouts":300}}}`, "checks.active.unhealthy.timeouts"},
		{"interval too short", `{"active":{"healthy":{"interval":0.001}}}`, "checks.active.healthy.interval: must be at least 0.01"},
		{"negative interval", `{"active":{"unhealthy":{"interval":-1}}}`, "checks.active.unhealthy.interval"},
		{"negative timeout", `{"active":{"timeout":-1}}`, "checks.active.timeout: must be greater than 0"},
		{"negative concurrency", `{"active":{"concurrency":-2}}`, "checks.active.concurrency"},
		{"port", `{"active":{"port":70000}}`, "checks.active.port: must be between 1 and 65535"},
		{"host", `{"active":{"host":"a b"}}`, "checks.active.host"},
		{"status out of range", `{"active":{"healthy":{"http_statuses":[200,600]}}}`, "checks.active.healthy.http_statuses[1]: 600 must be between 200 and 599"},
		{"status twice", `{"active":{"unhealthy":{"http_statuses":[500,500]}}}`, "checks.active.unhealthy.http_statuses[1]: 500 is listed twice"},
		{"path", `{"active":{"http_path":"status"}}`, "checks.active.http_path"},
		{"method", `{"active":{"http_method":"FETCH"}}`, "checks.active.http_method"},
		{"header", `{"active":{"req_headers":["no colon"]}}`, "checks.active.req_headers[0]"},
		{"passive type", `{"active":{},"passive":{"type":"grpc"}}`, "checks.passive.type"},
		{"passive successes", `{"active":{},"passive":{"healthy":{"successes":255}}}`, "checks.passive.healthy.successes: must be between 1 and 254"},
		{"passive statuses", `{"active":{},"passive":{"unhealthy":{"http_statuses":[100]}}}`, "checks.passive.unhealthy.http_statuses[0]"},
		{"passive timeouts", `{"active":{},"passive":{"unhealthy":{"timeouts":-3}}}`, "checks.passive.unhealthy.timeouts"},
		{"unknown field", `{"active":{"intervall":1}}`, "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.json))
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Parse: %v, want no error", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Parse: %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestApplyDefaults(t *testing.T) {
	c, err := Parse([]byte(`{"active":{"healthy":{"successes":3}},"passive":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	c.ApplyDefaults()
	got, _ := json.Marshal(c)
	want := `{"active":{"type":"http","timeout":1,"concurrency":10,"http_path":"/","http_method":"GET",` +
		`"https_verify_certificate":true,"healthy":{"interval":1,"http_statuses":[200,302],"successes":3},` +
		`"unhealthy":{"interval":1,"http_statuses":[429,404,500,501,502,503,504,505],"http_failures":5,"tcp_failures":2,"timeouts":3}},` +
		`"passive":{"type":"http","healthy":{"http_statuses":[200,201,202,203,204,205,206,207,208,226,300,301,302,303,304,305,306,307,308],"successes":5},` +
		`"unhealthy":{"http_statuses":[429,500,503],"tcp_failures":2,"timeouts":7,"http_failures":5}}}`
	if string(got) != want {
		t.Errorf("with defaults:\n%s\nwant\n%s", got, want)
	}
	c.Active.Healthy.HTTPStatuses[0] = 299
	if defActiveHealthy[0] != 200 {
		t.Error("ApplyDefaults shares the default status list")
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}

func TestKey(t *testing.T) {
	addrs := []string{"127.0.0.1:1980", "127.0.0.1:1981"}
	base := Config{Active: &Active{HTTPPath: "/status"}}
	explicit := Config{Active: &Active{HTTPPath: "/status", Type: "http", Timeout: 1, Concurrency: 10}}
	k := Key(base, addrs)
	tests := []struct {
		name  string
		cfg   Config
		addrs []string
		same  bool
	}{
		{"same", Config{Active: &Active{HTTPPath: "/status"}}, addrs, true},
		{"defaults written out", explicit, addrs, true},
		{"other path", Config{Active: &Active{HTTPPath: "/"}}, addrs, false},
		{"passive added", Config{Active: &Active{HTTPPath: "/status"}, Passive: &Passive{}}, addrs, false},
		{"node added", base, append([]string{"127.0.0.1:1982"}, addrs...), false},
		{"nodes reordered", base, []string{addrs[1], addrs[0]}, false},
		{"addresses run together", base, []string{"127.0.0.1:1980127.0.0.1:1981"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Key(tt.cfg, tt.addrs); (got == k) != tt.same {
				t.Errorf("Key = %s, base %s; same = %v, want %v", got, k, got == k, tt.same)
			}
		})
	}
	if !reflect.DeepEqual(base, Config{Active: &Active{HTTPPath: "/status"}}) {
		t.Errorf("Key changed its config: %+v", *base.Active)
	}
}
