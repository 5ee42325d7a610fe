package consumerrestriction

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/pluginstest"
)

var _ plugins.AccessPhase = (*Plugin)(nil)

// who sets the identity an auth plugin and the router would have set.
func who(consumer, group, route, service string) pluginstest.Option {
	return func(_ *http.Request, c *plugins.Ctx) {
		c.ConsumerName, c.ConsumerGroupID, c.RouteID, c.ServiceID = consumer, group, route, service
	}
}

func TestAccess(t *testing.T) {
	const (
		forbidden = `{"message":"The consumer_name is forbidden."}`
		noName    = `{"message":"The request is rejected, please check the consumer_name for this request"}`
	)
	tests := []struct {
		name string
		cfg  string
		opts []pluginstest.Option
		want int // 0: the request goes on
		body string
	}{
		{"no consumer", `{"whitelist":["jack"]}`, nil, 401, noName},
		{"no service", `{"type":"service_id","blacklist":["1"]}`, []pluginstest.Option{who("jack", "", "r1", "")},
			401, `{"message":"The request is rejected, please check the service_id for this request"}`},
		{"whitelisted", `{"whitelist":["jack"]}`, []pluginstest.Option{who("jack", "", "", "")}, 0, ""},
		{"not whitelisted", `{"whitelist":["jack"]}`, []pluginstest.Option{who("rose", "", "", "")}, 403, forbidden},
		{"blacklisted", `{"blacklist":["jack"]}`, []pluginstest.Option{who("jack", "", "", "")}, 403, forbidden},
		{"not blacklisted", `{"blacklist":["jack"]}`, []pluginstest.Option{who("rose", "", "", "")}, 0, ""},
		{"blacklist wins over whitelist", `{"blacklist":["jack"],"whitelist":["jack"]}`, []pluginstest.Option{who("jack", "", "", "")}, 403, forbidden},
		{"custom code and message", `{"blacklist":["jack"],"rejected_code":401,"rejected_msg":"request is forbidden"}`,
			[]pluginstest.Option{who("jack", "", "", "")}, 401, `{"message":"request is forbidden"}`},
		{"message not HTML-escaped", `{"blacklist":["jack"],"rejected_msg":"<no> & \"bye\""}`,
			[]pluginstest.Option{who("jack", "", "", "")}, 403, `{"message":"<no> & \"bye\""}`},
		{"method allowed", `{"allowed_by_methods":[{"user":"jack","methods":["POST","GET"]}]}`,
			[]pluginstest.Option{who("jack", "", "", "")}, 0, ""},
		{"method not allowed", `{"allowed_by_methods":[{"user":"jack","methods":["POST"]}]}`,
			[]pluginstest.Option{who("jack", "", "", "")}, 403, forbidden},
		{"first rule decides", `{"allowed_by_methods":[{"user":"jack","methods":["POST"]},{"user":"jack","methods":["GET"]}]}`,
			[]pluginstest.Option{who("jack", "", "", "")}, 403, forbidden},
		{"user without rule", `{"allowed_by_methods":[{"user":"jack","methods":["POST"]}]}`,
			[]pluginstest.Option{who("rose", "", "", "")}, 0, ""},
		{"whitelisted skips methods", `{"whitelist":["jack"],"allowed_by_methods":[{"user":"jack","methods":["POST"]}]}`,
			[]pluginstest.Option{who("jack", "", "", "")}, 0, ""},
		{"method rule with blacklist", `{"blacklist":["rose"],"allowed_by_methods":[{"user":"jack","methods":["PUT"]}]}`,
			[]pluginstest.Option{who("jack", "", "", ""), pluginstest.Method("PUT")}, 0, ""},
		{"empty allowed_by_methods admits", `{"allowed_by_methods":[]}`, []pluginstest.Option{who("jack", "", "", "")}, 0, ""},
		{"route_id", `{"type":"route_id","whitelist":["r1"]}`, []pluginstest.Option{who("", "", "r2", "")},
			403, `{"message":"The route_id is forbidden."}`},
		{"service_id", `{"type":"service_id","whitelist":["s1"]}`, []pluginstest.Option{who("", "", "r2", "s1")}, 0, ""},
		{"consumer_group_id", `{"type":"consumer_group_id","blacklist":["free"]}`, []pluginstest.Option{who("jack", "free", "", "")},
			403, `{"message":"The consumer_group_id is forbidden."}`},
		{"no consumer group", `{"type":"consumer_group_id","blacklist":["free"]}`, []pluginstest.Option{who("jack", "", "", "")},
			401, `{"message":"The request is rejected, please check the consumer_group_id for this request"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pluginstest.Build(t, Spec, tt.cfg).(*Plugin)
			got := p.Access(pluginstest.Ctx(t, tt.opts...))
			if got.Status != tt.want || (tt.body != "" && string(got.Body) != tt.body+"\n") {
				t.Errorf("Access() = %d %s, want %d %s", got.Status, got.Body, tt.want, tt.body)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  string
		err  string
	}{
		{"whitelist", `{"whitelist":["jack"]}`, ""},
		{"all fields", `{"type":"consumer_name","blacklist":["a"],"whitelist":["b"],"allowed_by_methods":[{"user":"b","methods":["GET","PURGE"]}],"rejected_code":401,"rejected_msg":""}`, ""},
		{"nothing to check", `{}`, `object matches none of the required`},
		{"only type", `{"type":"route_id"}`, `object matches none of the required`},
		{"unknown type", `{"type":"ip","whitelist":["a"]}`, `property "type" validation failed`},
		{"empty whitelist", `{"whitelist":[]}`, `property "whitelist" validation failed`},
		{"empty blacklist", `{"blacklist":[]}`, `property "blacklist" validation failed`},
		{"empty methods", `{"allowed_by_methods":[{"user":"a","methods":[]}]}`, `property "methods" validation failed`},
		{"unknown method", `{"allowed_by_methods":[{"user":"a","methods":["get"]}]}`, `property "methods" validation failed`},
		{"code too low", `{"whitelist":["a"],"rejected_code":199}`, `property "rejected_code" validation failed`},
		{"code too high", `{"whitelist":["a"],"rejected_code":1000}`, `property "rejected_code" validation failed`},
		{"whitelist not strings", `{"whitelist":[1]}`, "whitelist"},
		{"unknown field", `{"whitelist":["a"],"message":"x"}`, `unknown field "message"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pluginstest.TryBuild(Spec, tt.cfg)
			if tt.err == "" && err != nil {
				t.Fatalf("TryBuild(%s): %v", tt.cfg, err)
			}
			if tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("TryBuild(%s) = %v, want error containing %q", tt.cfg, err, tt.err)
			}
		})
	}
}

func TestAccess_hammer(t *testing.T) {
	p := pluginstest.Build(t, Spec, `{"whitelist":["jack"],"allowed_by_methods":[{"user":"rose","methods":["GET"]}]}`).(*Plugin)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				name, bad := "jack", i%2 == 0
				if bad {
					name = "rose"
				}
				r, _ := http.NewRequest("GET", "/", nil)
				got := p.Access(&plugins.Ctx{R: r, ConsumerName: name})
				if got.Stopped() != bad {
					t.Errorf("%s: Access() = %d", name, got.Status)
					return
				}
			}
		}()
	}
	wg.Wait()
}
