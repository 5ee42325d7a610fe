package limitcount

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/pluginstest"
)

var _ plugins.AccessPhase = (*Plugin)(nil)

// fakeClock starts an hour ahead of mono so the real sweeper never sees its windows as
// expired.
type fakeClock struct{ t atomic.Int64 }

func newClock() *fakeClock {
	c := &fakeClock{}
	c.t.Store(mono() + 3600e9)
	return c
}
func (f *fakeClock) now() int64              { return f.t.Load() }
func (f *fakeClock) advance(seconds float64) { f.t.Add(int64(seconds * 1e9)) }

func build(t *testing.T, cfg string) (*Plugin, *fakeClock) {
	t.Helper()
	p := pluginstest.Build(t, Spec, cfg).(*Plugin)
	clk := newClock()
	p.now = clk.now
	return p, clk
}

// uniq makes a config distinct per test so tests never share a store.
func uniq(t *testing.T, extra string) string {
	return `{"count":2,"time_window":60,"rejected_msg":"` + t.Name() + `"` + extra + `}`
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name, cfg, want string // want: "" accepted, else a substring of the error
	}{
		{"minimal", `{"count":1,"time_window":1}`, ""},
		{"everything", `{"count":5,"time_window":10,"window_type":"fixed","key":"$remote_addr $http_x","key_type":"var_combination","rejected_code":429,"rejected_msg":"slow down","policy":"local","allow_degradation":true,"show_limit_quota_header":false,"group":"g1"}`, ""},
		{"missing count", `{"time_window":1}`, `"count" is required`},
		{"missing time_window", `{"count":1}`, `"time_window" is required`},
		{"zero count", `{"count":0,"time_window":1}`, `expected 0 to be greater than 0`},
		{"negative window", `{"count":1,"time_window":-3}`, `"time_window" validation failed`},
		{"fractional count", `{"count":1.5,"time_window":1}`, `expected integer`},
		{"string count", `{"count":"$arg_n","time_window":1}`, `not supported yet`},
		{"sliding", `{"count":1,"time_window":1,"window_type":"sliding"}`, `not supported yet`},
		{"bad window_type", `{"count":1,"time_window":1,"window_type":"x"}`, `"window_type"`},
		{"bad key_type", `{"count":1,"time_window":1,"key_type":"header"}`, `"key_type"`},
		{"rejected_code low", `{"count":1,"time_window":1,"rejected_code":199}`, `"rejected_code"`},
		{"rejected_code high", `{"count":1,"time_window":1,"rejected_code":600}`, `"rejected_code"`},
		{"empty rejected_msg", `{"count":1,"time_window":1,"rejected_msg":""}`, `"rejected_msg"`},
		{"redis", `{"count":1,"time_window":1,"policy":"redis","redis_host":"127.0.0.1"}`, ""},
		{"redis-cluster", `{"count":1,"time_window":1,"policy":"redis-cluster","redis_cluster_nodes":["a:1"],"redis_cluster_name":"c"}`, ""},
		{"redis without host", `{"count":1,"time_window":1,"policy":"redis"}`, `"redis_host" is required`},
		{"redis-cluster without name", `{"count":1,"time_window":1,"policy":"redis-cluster","redis_cluster_nodes":["a:1"]}`, `"redis_cluster_name" is required`},
		{"redis-sentinel", `{"count":1,"time_window":1,"policy":"redis-sentinel","redis_sentinels":[{"host":"a","port":1}],"redis_master_name":"m"}`, `"redis-sentinel" is not supported yet`},
		{"redis sync_interval", `{"count":1,"time_window":10,"policy":"redis","redis_host":"r1","sync_interval":1}`, `"sync_interval"`},
		{"redis sync_interval off", `{"count":1,"time_window":10,"policy":"redis","redis_host":"r1","sync_interval":-1}`, ""},
		{"bad policy", `{"count":1,"time_window":1,"policy":"memcached"}`, `"policy"`},
		{"unknown field", `{"count":1,"time_window":1,"burst":3}`, `unknown field`},
		{"rules", `{"rules":[{"count":1,"time_window":1,"key":"$remote_addr"}]}`, `unknown field`},
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

func TestAccess(t *testing.T) {
	type hit struct {
		opts   []pluginstest.Option
		status int    // 0: allowed
		remain string // X-RateLimit-Remaining; "" when no header expected
	}
	a := pluginstest.ClientAddr("192.0.2.1")
	b := pluginstest.ClientAddr("192.0.2.2")
	tests := []struct {
		name string
		cfg  string
		body string // body of the rejection
		hits []hit
	}{
		{"default key is remote_addr", `{"count":2,"time_window":60}`, "", []hit{
			{[]pluginstest.Option{a}, 0, "1"}, {[]pluginstest.Option{a}, 0, "0"}, {[]pluginstest.Option{a}, 503, "0"},
			{[]pluginstest.Option{b}, 0, "1"},
		}},
		{"rejected code and message", `{"count":1,"time_window":60,"rejected_code":429,"rejected_msg":"too many"}`, `{"error_msg":"too many"}` + "\n", []hit{
			{nil, 0, "0"}, {nil, 429, "0"},
		}},
		{"no quota headers", `{"count":1,"time_window":60,"show_limit_quota_header":false,"rejected_msg":"x"}`, `{"error_msg":"x"}` + "\n", []hit{
			{nil, 0, ""}, {nil, 503, ""},
		}},
		{"var key, missing falls back to remote_addr", `{"count":1,"time_window":60,"key":"http_x_user"}`, "", []hit{
			{[]pluginstest.Option{pluginstest.Header("X-User", "u1")}, 0, "0"},
			{[]pluginstest.Option{pluginstest.Header("X-User", "u2")}, 0, "0"},
			{[]pluginstest.Option{pluginstest.Header("X-User", "u1")}, 503, "0"},
			{[]pluginstest.Option{a}, 0, "0"},
			{[]pluginstest.Option{a}, 503, "0"},
		}},
		{"var_combination", `{"count":1,"time_window":60,"key_type":"var_combination","key":"$http_x_a-$http_x_b"}`, "", []hit{
			{[]pluginstest.Option{pluginstest.Header("X-A", "1"), pluginstest.Header("X-B", "2")}, 0, "0"},
			{[]pluginstest.Option{pluginstest.Header("X-A", "1")}, 0, "0"},
			{[]pluginstest.Option{pluginstest.Header("X-A", "1"), pluginstest.Header("X-B", "2")}, 503, "0"},
			{[]pluginstest.Option{b}, 0, "0"}, // nothing resolves: remote_addr
			{[]pluginstest.Option{b}, 503, "0"},
		}},
		{"constant key shared by all clients", `{"count":1,"time_window":60,"key_type":"constant","key":"all"}`, "", []hit{
			{[]pluginstest.Option{a}, 0, "0"}, {[]pluginstest.Option{b}, 503, "0"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := build(t, tt.cfg)
			p.st.Store(newStore("test", "")) // private store: tests do not share counters
			for i, h := range tt.hits {
				c := pluginstest.Ctx(t, h.opts...)
				c.RouteID = "r1"
				res := p.Access(c)
				if res.Status != h.status {
					t.Fatalf("hit %d: status %d, want %d", i, res.Status, h.status)
				}
				if res.Stopped() && string(res.Body) != tt.body {
					t.Errorf("hit %d: body %q, want %q", i, res.Body, tt.body)
				}
				if got := c.W.Header().Get("X-RateLimit-Remaining"); got != h.remain {
					t.Errorf("hit %d: remaining %q, want %q", i, got, h.remain)
				}
			}
		})
	}
}

func TestHeadersAndWindow(t *testing.T) {
	p, clk := build(t, uniq(t, ""))
	hit := func() (int, string, string, string) {
		c := pluginstest.Ctx(t)
		res := p.Access(c)
		h := c.W.Header()
		return res.Status, h.Get("X-RateLimit-Limit"), h.Get("X-RateLimit-Remaining"), h.Get("X-RateLimit-Reset")
	}
	check := func(step string, st int, lim, rem, reset string) {
		t.Helper()
		gs, gl, gr, greset := hit()
		if gs != st || gl != lim || gr != rem || greset != reset {
			t.Errorf("%s: got %d %s/%s reset %s, want %d %s/%s reset %s", step, gs, gl, gr, greset, st, lim, rem, reset)
		}
	}
	check("first", 0, "2", "1", "60")
	clk.advance(10.005)
	check("second", 0, "2", "0", "49.99")
	clk.advance(20)
	check("third", 503, "2", "0", "29.99")
	clk.advance(30) // window over
	check("new window", 0, "2", "1", "60")
}

func TestStoreSurvivesRebuild(t *testing.T) {
	cfg := uniq(t, "")
	p1, _ := build(t, cfg)
	p2, _ := build(t, cfg) // the next snapshot: same config
	other, _ := build(t, uniq(t, `,"key":"remote_addr"`))
	c := func() *plugins.Ctx { c := pluginstest.Ctx(t); c.RouteID = "1"; return c }
	p1.Access(c())
	p1.Access(c())
	if res := p2.Access(c()); res.Status != 503 {
		t.Errorf("rebuilt instance: %d, want 503 (counter kept)", res.Status)
	}
	if res := other.Access(c()); res.Status != 0 {
		t.Errorf("changed config: %d, want a fresh counter", res.Status)
	}
}

func TestScopes(t *testing.T) {
	p, _ := build(t, `{"count":1,"time_window":60,"rejected_msg":"`+t.Name()+`"}`)
	hit := func(route, consumer string) int {
		c := pluginstest.Ctx(t)
		c.RouteID, c.ConsumerName = route, consumer
		return p.Access(c).Status
	}
	if s := hit("1", ""); s != 0 {
		t.Fatalf("first hit: %d", s)
	}
	if s := hit("1", ""); s != 503 {
		t.Fatalf("second hit on route 1: %d, want 503", s)
	}
	if s := hit("2", ""); s != 0 {
		t.Errorf("route 2 shares route 1's counter: %d", s)
	}
	if s := hit("1", "jack"); s != 0 {
		t.Errorf("consumer jack shares the anonymous counter: %d", s)
	}

	g1, _ := build(t, `{"count":2,"time_window":60,"group":"`+t.Name()+`"}`)
	g2, _ := build(t, `{"count":2,"time_window":60,"group":"`+t.Name()+`","rejected_code":429}`)
	c1 := pluginstest.Ctx(t)
	c1.RouteID = "1"
	c2 := pluginstest.Ctx(t)
	c2.RouteID = "2"
	g1.Access(c1)
	g1.Access(c1)
	if s := g2.Access(c2).Status; s != 429 {
		t.Errorf("group member on another route: %d, want 429 (shared counter)", s)
	}
}

func TestSweep(t *testing.T) {
	p := pluginstest.Build(t, Spec, uniq(t, `,"time_window":1`)).(*Plugin)
	old := p.st.Load()
	if res := p.Access(pluginstest.Ctx(t)); res.Stopped() {
		t.Fatal("first hit refused")
	}
	sweep(mono()) // window still open: kept
	if old.Dead() {
		t.Fatal("store with an open window retired")
	}
	sweep(mono() + 2e9)
	still := registry.Live(p.id) != nil
	if !old.Dead() || still {
		t.Fatalf("expired store: dead=%v registered=%v, want retired", old.Dead(), still)
	}
	c := pluginstest.Ctx(t)
	if res := p.Access(c); res.Stopped() || c.W.Header().Get("X-RateLimit-Remaining") != "1" {
		t.Fatalf("after sweep: %d remaining %s, want a fresh window", res.Status, c.W.Header().Get("X-RateLimit-Remaining"))
	}
	if p.st.Load() == old {
		t.Error("instance kept the dead store")
	}
}

func TestAccess_hammer(t *testing.T) {
	const limit, workers, each = 500, 16, 100
	cfgs := `{"count":500,"time_window":3600,"rejected_msg":"` + t.Name() + `"}`
	p1 := pluginstest.Build(t, Spec, cfgs).(*Plugin)
	p2 := pluginstest.Build(t, Spec, cfgs).(*Plugin) // a rebuilt snapshot racing the old one
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			p := p1
			if w%2 == 1 {
				p = p2
			}
			for i := 0; i < each; i++ {
				c := pluginstest.Ctx(t)
				c.RouteID = "r"
				if !p.Access(c).Stopped() {
					allowed.Add(1)
				}
				if i%25 == 0 {
					sweep(mono())
				}
			}
		}(w)
	}
	wg.Wait()
	if got := allowed.Load(); got != limit {
		t.Errorf("allowed %d of %d, want exactly %d", got, workers*each, limit)
	}
}
