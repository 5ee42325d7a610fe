package trafficsplit

import (
	"strings"
	"testing"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/pluginstest"
	"github.com/portico-gw/portico/store"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name, cfg, want string // want: "" accepted, else a substring of the error
	}{
		{"empty", `{}`, ""},
		{"no match", `{"rules":[{"weighted_upstreams":[{"upstream_id":"1","weight":3},{"weight":1}]}]}`, ""},
		{"array vars", `{"rules":[{"match":[{"vars":[["arg_name","==","jack"]]}],"weighted_upstreams":[{"upstream_id":1}]}]}`, ""},
		{"string vars", `{"rules":[{"match":[{"vars":"http_x_env == 'canary'"}],"weighted_upstreams":[{"weight":1}]}]}`, ""},
		{"inline upstream", `{"rules":[{"weighted_upstreams":[{"upstream":{"nodes":{"127.0.0.1:1980":1}},"weight":2}]}]}`, ""},
		{"weight only default", `{"rules":[{"weighted_upstreams":[{}]}]}`, ""},
		{"bad operator", `{"rules":[{"match":[{"vars":[["arg_name","=","jack"]]}]}]}`, "failed to validate the 'vars' expression"},
		{"bad expression", `{"rules":[{"match":[{"vars":"http_x == "}]}]}`, "failed to validate the 'vars' expression"},
		{"vars object", `{"rules":[{"match":[{"vars":{"a":1}}]}]}`, "failed to validate the 'vars' expression"},
		{"empty weighted", `{"rules":[{"weighted_upstreams":[]}]}`, "at least 1 items"},
		{"negative weight", `{"rules":[{"weighted_upstreams":[{"weight":-1}]}]}`, `"weight"`},
		{"bad inline upstream", `{"rules":[{"weighted_upstreams":[{"upstream":{"nodes":{"127.0.0.1:1980":1},"type":"bogus"}}]}]}`, `"type"`},
		{"inline upstream without nodes", `{"rules":[{"weighted_upstreams":[{"upstream":{"type":"roundrobin"}}]}]}`, `"nodes" is required`},
		{"too many", `{"rules":[{"weighted_upstreams":[` + strings.Repeat(`{},`, 20) + `{}]}]}`, "at most 20"},
		{"unknown field", `{"rules":[{"weighted_upstreams":[{"weigth":1}]}]}`, "unknown field"},
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

// name says which upstream a pick is: "route", "id:<id>" or "inline".
func name(ch *plugins.UpstreamChoice) string {
	switch {
	case ch == nil:
		return "route"
	case ch.ID != "":
		return "id:" + ch.ID
	}
	return "inline"
}

func TestAccess(t *testing.T) {
	split := `{"rules":[
		{"match":[{"vars":[["http_x_env","==","canary"]]},{"vars":"arg_beta == 'yes'"}],
		 "weighted_upstreams":[{"upstream_id":"canary","weight":1}]},
		{"match":[{"vars":[["arg_n",">",5]]}],
		 "weighted_upstreams":[{"upstream_id":"a","weight":3},{"weight":1}]}]}`
	tests := []struct {
		name string
		cfg  string
		opts []pluginstest.Option
		want string // picks, comma-separated; "-" : Ctx.Upstream left alone
	}{
		{"header matches first rule", split, []pluginstest.Option{pluginstest.Header("X-Env", "canary")}, "id:canary,id:canary"},
		{"second match entry of first rule", split, []pluginstest.Option{pluginstest.Target("/?beta=yes")}, "id:canary"},
		{"second rule 3:1 smooth", split, []pluginstest.Option{pluginstest.Target("/?n=6")}, "id:a,id:a,route,id:a,id:a,id:a,route,id:a"},
		{"nothing matches", split, []pluginstest.Option{pluginstest.Target("/?n=2")}, "-,-"},
		{"no match: always", `{"rules":[{"weighted_upstreams":[{"upstream_id":"x"}]}]}`, nil, "id:x"},
		{"no weighted_upstreams: route", `{"rules":[{"match":[{"vars":[]}]}]}`, nil, "route"},
		{"no rules", `{}`, nil, "-"},
		{"weight zero never picked", `{"rules":[{"weighted_upstreams":[{"upstream_id":"z","weight":0},{"upstream_id":"y"}]}]}`, nil, "id:y,id:y"},
		{"all weights zero: route", `{"rules":[{"weighted_upstreams":[{"upstream_id":"z","weight":0}]}]}`, nil, "-"},
		{"inline", `{"rules":[{"weighted_upstreams":[{"upstream":{"nodes":{"127.0.0.1:1":1}}}]}]}`, nil, "inline"},
		// the Lua's match_passed: an empty match passes only if no rule before it failed
		{"empty match after failed rule", `{"rules":[{"match":[{"vars":[["arg_q","==","1"]]}],"weighted_upstreams":[{"upstream_id":"q"}]},{"match":[],"weighted_upstreams":[{"upstream_id":"e"}]}]}`, nil, "-"},
		{"empty match first", `{"rules":[{"match":[],"weighted_upstreams":[{"upstream_id":"e"}]}]}`, nil, "id:e"},
		{"match without vars passes", `{"rules":[{"match":[{}],"weighted_upstreams":[{"upstream_id":"m"}]}]}`, nil, "id:m"},
	}
	unset := &plugins.UpstreamChoice{ID: "unset"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pluginstest.Build(t, Spec, tt.cfg).(*Plugin)
			var got []string
			for range strings.Count(tt.want, ",") + 1 {
				c := pluginstest.Ctx(t, tt.opts...)
				c.Upstream = unset
				if res := p.Access(c); res.Stopped() {
					t.Fatalf("Access stopped the request: %d", res.Status)
				}
				if c.Upstream == unset {
					got = append(got, "-")
				} else {
					got = append(got, name(c.Upstream))
				}
			}
			if g := strings.Join(got, ","); g != tt.want {
				t.Errorf("picks = %s, want %s", g, tt.want)
			}
		})
	}
}

func TestInlineKey(t *testing.T) {
	// the proxy compiles the inline upstream under store.UpstreamKey of what it decodes
	// from the stored config: the plugin must name the same key, whitespace, node order
	// and metadata notwithstanding
	p := pluginstest.Build(t, Spec, `{"rules":[{"weighted_upstreams":[{"upstream":{"name":"x","nodes":{"127.0.0.2:2":1, "127.0.0.1:1":1},"checks":{ "active": {"http_path": "/"} }}}]}]}`).(*Plugin)
	u, err := store.Decode[store.Upstream]([]byte(`{"nodes":{"127.0.0.1:1":1,"127.0.0.2:2":1},"checks":{"active":{"http_path":"/"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	c := pluginstest.Ctx(t)
	p.Access(c)
	if c.Upstream == nil || c.Upstream.Key != store.UpstreamKey(u) {
		t.Errorf("key = %+v, want %s", c.Upstream, store.UpstreamKey(u))
	}
}

func TestDistribution(t *testing.T) {
	tests := []struct {
		weights []int
	}{
		{[]int{3, 1}}, {[]int{1, 1, 1}}, {[]int{5, 0, 2}}, {[]int{4000, 97}}, {[]int{1 << 20, 3, 1 << 19}},
	}
	for _, tt := range tests {
		choices := make([]*plugins.UpstreamChoice, len(tt.weights))
		total := 0
		for i, w := range tt.weights {
			choices[i] = &plugins.UpstreamChoice{ID: string(rune('a' + i))}
			total += w
		}
		pk := newPicker(choices, tt.weights)
		g := 0
		for _, w := range tt.weights {
			g = gcd(g, w)
		}
		cycle := total / g
		got := map[string]int{}
		for range cycle {
			ch, _ := pk.next()
			got[ch.ID]++
		}
		for i, w := range tt.weights {
			if n := got[choices[i].ID]; n != w/g {
				t.Errorf("weights %v: %s picked %d times in a cycle of %d, want %d", tt.weights, choices[i].ID, n, cycle, w/g)
			}
		}
	}
}

func TestAccess_hammer(t *testing.T) {
	p := pluginstest.Build(t, Spec, `{"rules":[{"weighted_upstreams":[{"upstream_id":"a","weight":3},{"weight":1}]}]}`).(*Plugin)
	const workers, each = 8, 400
	counts := make(chan [2]int, workers)
	for range workers {
		go func() {
			var n [2]int
			for range each {
				c := pluginstest.Ctx(t)
				p.Access(c)
				if c.Upstream == nil {
					n[1]++
				} else {
					n[0]++
				}
			}
			counts <- n
		}()
	}
	var a, route int
	for range workers {
		n := <-counts
		a, route = a+n[0], route+n[1]
	}
	if a != 3*workers*each/4 || route != workers*each/4 {
		t.Errorf("a %d, route %d; want exactly 3:1 over %d whole cycles", a, route, workers*each/4)
	}
}
