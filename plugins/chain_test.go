package plugins_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/pluginstest"
)

// recorder is a test plugin that appends "<name>:<phase>" to the trace and can stop.
type recCfg struct {
	Stop int    `json:"stop,omitempty"`
	Body string `json:"body,omitempty"`
}

func (c *recCfg) Validate() error {
	if c.Stop < 0 {
		return errors.New("stop: must be at least 0")
	}
	return nil
}

type recPlugin struct {
	name  string
	cfg   *recCfg
	trace *[]string
}

func (p *recPlugin) Rewrite(c *plugins.Ctx) plugins.Result {
	*p.trace = append(*p.trace, p.name+":rewrite")
	return plugins.Continue
}

func (p *recPlugin) Access(c *plugins.Ctx) plugins.Result {
	*p.trace = append(*p.trace, p.name+":access")
	if p.cfg.Stop != 0 {
		return plugins.Respond(p.cfg.Stop, []byte(p.cfg.Body))
	}
	return plugins.Continue
}

func recSpec(name string, prio int, trace *[]string) plugins.Spec {
	return plugins.Spec{Name: name, Priority: prio,
		NewConfig: func() plugins.Config { return new(recCfg) },
		Build: func(c plugins.Config) (any, error) {
			return &recPlugin{name: name, cfg: c.(*recCfg), trace: trace}, nil
		}}
}

func TestChainOrderAndMeta(t *testing.T) {
	tests := []struct {
		name       string
		plugins    string
		target     string
		wantTrace  string
		wantStatus int
		wantBody   string
	}{
		{"priority order, rewrite before access", `{"a":{},"b":{},"c":{}}`, "/",
			"c:rewrite b:rewrite a:rewrite c:access b:access a:access", 0, ""},
		{"_meta.priority reorders within a phase", `{"a":{"_meta":{"priority":5000}},"b":{},"c":{}}`, "/",
			"a:rewrite c:rewrite b:rewrite a:access c:access b:access", 0, ""},
		{"_meta.disable skips", `{"a":{},"b":{"_meta":{"disable":true}},"c":{}}`, "/",
			"c:rewrite a:rewrite c:access a:access", 0, ""},
		{"_meta.filter false skips every phase", `{"a":{},"b":{"_meta":{"filter":[["arg_version","==","v2"]]}}}`, "/?version=v1",
			"a:rewrite a:access", 0, ""},
		{"_meta.filter true runs", `{"a":{},"b":{"_meta":{"filter":[["arg_version","==","v2"]]}}}`, "/?version=v2",
			"b:rewrite a:rewrite b:access a:access", 0, ""},
		{"stop short-circuits the rest", `{"a":{},"b":{"stop":403,"body":"no"},"c":{}}`, "/",
			"c:rewrite b:rewrite a:rewrite c:access b:access", 403, "no"},
		{"error_response replaces a body of status >= 400", `{"b":{"stop":503,"body":"x","_meta":{"error_response":{"message":"busy"}}}}`, "/",
			"b:rewrite b:access", 503, "{\"message\":\"busy\"}\n"},
		{"error_response string", `{"b":{"stop":429,"_meta":{"error_response":"slow down"}}}`, "/",
			"b:rewrite b:access", 429, "slow down"},
		{"error_response leaves a status below 400 alone", `{"b":{"stop":302,"body":"moved","_meta":{"error_response":"x"}}}`, "/",
			"b:rewrite b:access", 302, "moved"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var trace []string
			reg := plugins.NewRegistry(recSpec("a", 1000, &trace), recSpec("b", 2000, &trace), recSpec("c", 3000, &trace))
			var m map[string]json.RawMessage
			if err := json.Unmarshal([]byte(tt.plugins), &m); err != nil {
				t.Fatal(err)
			}
			ch, err := reg.BuildChain(m, nil)
			if err != nil {
				t.Fatal(err)
			}
			c := pluginstest.Ctx(t, pluginstest.Target(tt.target))
			res, stopped := plugins.Run(ch.Entries, c, plugins.Rewrite)
			if !stopped {
				res, stopped = plugins.Run(ch.Entries, c, plugins.Access)
			}
			if got := strings.Join(trace, " "); got != tt.wantTrace {
				t.Errorf("trace = %q, want %q", got, tt.wantTrace)
			}
			if stopped != (tt.wantStatus != 0) || res.Status != tt.wantStatus || string(res.Body) != tt.wantBody {
				t.Errorf("result = %d %q (stopped %v), want %d %q", res.Status, res.Body, stopped, tt.wantStatus, tt.wantBody)
			}
		})
	}
}

func TestFilterEvaluatedOncePerRequest(t *testing.T) {
	var trace []string
	reg := plugins.NewRegistry(recSpec("a", 1000, &trace))
	ch, err := reg.BuildChain(map[string]json.RawMessage{"a": json.RawMessage(`{"_meta":{"filter":[["http_x","==","1"]]}}`)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := pluginstest.Ctx(t, pluginstest.Header("X", "1"))
	plugins.Run(ch.Entries, c, plugins.Rewrite)
	c.R.Header.Set("X", "2") // a later change is not seen: the result is kept for the request
	plugins.Run(ch.Entries, c, plugins.Access)
	if got := strings.Join(trace, " "); got != "a:rewrite a:access" {
		t.Errorf("trace = %q", got)
	}
}

func TestMergeAndConsumerChain(t *testing.T) {
	var trace []string
	reg := plugins.NewRegistry(recSpec("a", 1000, &trace), recSpec("b", 2000, &trace), recSpec("c", 3000, &trace))
	route, _ := reg.BuildChain(map[string]json.RawMessage{"a": json.RawMessage(`{}`), "b": json.RawMessage(`{}`)}, nil)
	consChain, _ := reg.BuildChain(map[string]json.RawMessage{"b": json.RawMessage(`{"stop":401}`), "c": json.RawMessage(`{}`)}, nil)
	cons := &plugins.Consumer{Username: "jack", Chain: consChain}
	merged, extra := route.WithConsumer(cons)
	if got := strings.Join(merged.Names(), ","); got != "c,b,a" {
		t.Errorf("merged = %s", got)
	}
	if len(extra) != 1 || extra[0].Name != "c" {
		t.Errorf("extra = %v, want c", extra)
	}
	c := pluginstest.Ctx(t)
	res, stopped := plugins.Run(merged.Entries, c, plugins.Access)
	if !stopped || res.Status != 401 {
		t.Errorf("the consumer's b must replace the route's: %+v", res)
	}
	again, _ := route.WithConsumer(cons)
	if again != merged {
		t.Error("merged chain not cached per consumer")
	}
}

func TestConsumerDisableMasksRoute(t *testing.T) {
	var trace []string
	reg := plugins.NewRegistry(recSpec("a", 1000, &trace), recSpec("b", 2000, &trace))
	route, _ := reg.BuildChain(map[string]json.RawMessage{"a": json.RawMessage(`{}`), "b": json.RawMessage(`{}`)}, nil)
	// a consumer whose only plugin is a disabled copy of the route's b
	consChain, _ := reg.BuildChain(map[string]json.RawMessage{"b": json.RawMessage(`{"_meta":{"disable":true}}`)}, nil)
	merged, extra := route.WithConsumer(&plugins.Consumer{Username: "jack", Chain: consChain})
	if got := strings.Join(merged.Names(), ","); got != "a" {
		t.Errorf("merged = %q, want a: the consumer's disabled b replaces the route's", got)
	}
	if len(extra) != 0 {
		t.Errorf("extra = %v, want none", extra)
	}
}

func TestDecodeRefusals(t *testing.T) {
	var trace []string
	reg := plugins.NewRegistry(recSpec("a", 1000, &trace))
	tests := []struct{ name, plugin, cfg, want string }{
		{"unknown plugin", "zz", `{}`, "unknown plugin [zz]"},
		{"unknown field", "a", `{"x":1}`, `failed to check the configuration of plugin a err: json: unknown field "x"`},
		{"bad value", "a", `{"stop":-1}`, "failed to check the configuration of plugin a err: stop: must be at least 0"},
		{"typo in _meta", "a", `{"_meta":{"prefunction":"x"}}`, `property "_meta" validation failed: additional properties forbidden, found prefunction`},
		{"bad filter", "a", `{"_meta":{"filter":[["a","=","b"]]}}`, "failed to validate the 'vars' expression: invalid operator '='"},
		{"bad error_response", "a", `{"_meta":{"error_response":1}}`, "error_response must be a string or an object"},
		{"not an object", "a", `[]`, "expected object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := reg.Decode(tt.plugin, json.RawMessage(tt.cfg))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Decode = %v, want error containing %q", err, tt.want)
			}
		})
	}
	d, err := reg.Decode("a", json.RawMessage(`{"stop":-1,"_meta":{"disable":true}}`))
	if err != nil || d.Invalid == nil {
		t.Errorf("a disabled plugin with a bad config is stored with a warning: %v %+v", err, d)
	}
}

func TestEnabledList(t *testing.T) {
	var trace []string
	reg := plugins.NewRegistry(recSpec("a", 1000, &trace), recSpec("b", 2000, &trace))
	if err := reg.SetEnabled([]string{"a"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := reg.Lookup("b"); ok {
		t.Error("b is not enabled")
	}
	if err := reg.SetEnabled([]string{"nope"}); err == nil {
		t.Error("an unknown plugin in the enabled list must be refused")
	}
	if got := reg.Enabled(); len(got) != 1 || got[0].Name != "a" {
		t.Errorf("Enabled = %v", got)
	}
}

func TestTemplate(t *testing.T) {
	c := pluginstest.Ctx(t, pluginstest.Target("/x/y?user=jo&n=1"), pluginstest.Header("X-Env", "dev"))
	c.SetVar("user_id", "123")
	tests := map[string]string{
		"/anything/$user_id/world":  "/anything/123/world",
		"${arg_user}-${http_x_env}": "jo-dev",
		"${arg_missing ?? none}":    "none",
		`\$arg_user costs $arg_n`:   "$arg_user costs 1",
		"plain":                     "plain",
		"$uri":                      "/x/y",
		"$":                         "$",
	}
	for in, want := range tests {
		if got := plugins.CompileTemplate(in).Render(c); got != want {
			t.Errorf("Render(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestVars(t *testing.T) {
	c := pluginstest.Ctx(t, pluginstest.Target("/p?a=1&a=2&flag"), pluginstest.Header("User-Agent", "curl"), pluginstest.Method(http.MethodPost))
	c.R.AddCookie(&http.Cookie{Name: "sid", Value: "abc"})
	host, _ := os.Hostname()
	tests := []struct {
		name, want string
		ok         bool
	}{
		{"uri", "/p", true}, {"arg_a", "1", true}, {"arg_flag", "", true}, {"arg_zz", "", false},
		{"http_user_agent", "curl", true}, {"cookie_sid", "abc", true}, {"request_method", "POST", true},
		{"remote_addr", "127.0.0.1", true}, {"consumer_name", "", false}, {"query_string", "a=1&a=2&flag", true},
		// nginx's own
		{"content_type", "application/x-www-form-urlencoded", true}, {"content_length", "", false},
		{"request", "POST /p?a=1&a=2&flag HTTP/1.1", true}, {"real_request_uri", "/p?a=1&a=2&flag", true},
		{"remote_user", "jack", true}, {"hostname", host, true},
	}
	c.R.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	c.R.SetBasicAuth("jack", "pw")
	for _, v := range []string{"msec", "time_iso8601", "time_local"} {
		if got, ok := c.Var(v); !ok || len(got) < 10 {
			t.Errorf("Var(%q) = %q, %v", v, got, ok)
		}
	}
	for _, tt := range tests {
		got, ok := c.Var(tt.name)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Var(%q) = %q, %v; want %q, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestPluginState(t *testing.T) {
	c := pluginstest.Ctx(t)
	keys := make([]*int, 6)
	for i := range keys {
		keys[i] = new(int)
		c.SetPluginState(keys[i], i)
	}
	for i, k := range keys {
		if got := c.PluginState(k); got != i {
			t.Errorf("state %d = %v", i, got)
		}
	}
	c.SetPluginState(keys[0], "again")
	if c.PluginState(keys[0]) != "again" || c.PluginState(new(int)) != nil {
		t.Error("overwrite or a missing key is wrong")
	}
	c.Reset()
	if c.PluginState(keys[0]) != nil {
		t.Error("Reset must clear plugin state")
	}
}
