package apibreaker

import (
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/portico-gw/portico/plugins/pluginstest"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name, cfg, want string // want: "" accepted, else a substring of the error
	}{
		{"minimal", `{"break_response_code":502}`, ""},
		{"everything", `{"break_response_code":599,"break_response_body":"down","break_response_headers":[{"key":"X-Route","value":"$route_id"}],"max_breaker_sec":3,"unhealthy":{"http_statuses":[500,503],"failures":1},"healthy":{"http_statuses":[200,404],"successes":1}}`, ""},
		{"missing code", `{}`, `"break_response_code" is required`},
		{"code low", `{"break_response_code":199}`, `"break_response_code"`},
		{"code high", `{"break_response_code":600}`, `"break_response_code"`},
		{"empty header value", `{"break_response_code":502,"break_response_headers":[{"key":"a","value":""}]}`, `"break_response_headers"`},
		{"max_breaker_sec low", `{"break_response_code":502,"max_breaker_sec":2}`, `"max_breaker_sec"`},
		{"unhealthy 4xx", `{"break_response_code":502,"unhealthy":{"http_statuses":[404]}}`, `"unhealthy.http_statuses"`},
		{"unhealthy empty", `{"break_response_code":502,"unhealthy":{"http_statuses":[]}}`, `at least 1`},
		{"unhealthy repeated", `{"break_response_code":502,"unhealthy":{"http_statuses":[500,500]}}`, `unique`},
		{"healthy 5xx", `{"break_response_code":502,"healthy":{"http_statuses":[500]}}`, `"healthy.http_statuses"`},
		{"failures zero", `{"break_response_code":502,"unhealthy":{"failures":0}}`, `"unhealthy.failures"`},
		{"successes zero", `{"break_response_code":502,"healthy":{"successes":0}}`, `"healthy.successes"`},
		{"unknown field", `{"break_response_code":502,"break_sec":1}`, `unknown field`},
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

// clock is a fake mono clock in whole seconds, far from the real one so the sweeper
// never sees these states as idle.
type clock struct{ sec atomic.Int64 }

func (c *clock) now() int64 { return (c.sec.Load() + 1e6) * 1e9 }

// step is one request: the upstream's status (0: no upstream answered) at second at;
// want is what the client gets (the breaker's code, or the upstream's status).
type step struct {
	at, upstream, want int
}

func TestBreaker(t *testing.T) {
	tests := []struct {
		name  string
		extra string // config fields after break_response_code
		steps []step
	}{
		{"opens after 3 failures for 2 s, closes", ``, []step{
			{0, 500, 500}, {0, 500, 500}, {0, 500, 500}, // third failure: open, 2^1 s
			{1, 200, 599}, {2, 200, 599}, // last + 2 >= now holds through second 2
			{3, 200, 200}, // half-open: the upstream is asked again
		}},
		{"every third failure doubles the break", ``, []step{
			{0, 500, 500}, {0, 500, 500}, {0, 500, 500}, // open 2 s
			{3, 500, 500}, {3, 500, 500}, // count 5: no new break
			{3, 500, 500}, // count 6: 2^2 s from second 3
			{7, 200, 599}, {8, 200, 200},
		}},
		{"healthy answers close it", ``, []step{
			{0, 500, 500}, {0, 500, 500}, {0, 500, 500},
			{3, 200, 200}, {3, 200, 200}, {3, 200, 200}, // 3 successes: reset
			{3, 500, 500}, {3, 500, 500}, // count restarts: 2 failures, still closed
			{3, 200, 200},
		}},
		{"a failure clears the successes", `,"unhealthy":{"failures":2},"healthy":{"successes":2}`, []step{
			{0, 500, 500}, {0, 500, 500}, // open 2 s
			{3, 200, 200}, {3, 500, 500}, // success 1, then failure 3 (odd: no break)
			{3, 200, 200}, {3, 500, 500}, // count 4: 2^2 s
			{4, 200, 599},
		}},
		{"other statuses change nothing", ``, []step{
			{0, 500, 500}, {0, 404, 404}, {0, 502, 502}, {0, 500, 500}, {0, 200, 200}, {0, 500, 500},
			{0, 200, 599},
		}},
		{"capped by max_breaker_sec", `,"max_breaker_sec":5,"unhealthy":{"failures":1}`, []step{
			{0, 500, 500}, {2, 200, 599}, // 2 s
			{3, 500, 500}, {7, 200, 599}, // 2^2 = 4 s
			{8, 500, 500}, {13, 200, 599}, {14, 200, 200}, // 2^3 capped at 5 s
		}},
		{"no upstream answer is not counted", `,"unhealthy":{"failures":1}`, []step{
			{0, 0, 403}, {0, 0, 403}, {0, 200, 200},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pluginstest.Build(t, Spec, `{"break_response_code":599,"break_response_body":"`+t.Name()+`"`+tt.extra+`}`).(*Plugin)
			clk := &clock{}
			p.now = clk.now
			for i, s := range tt.steps {
				clk.sec.Store(int64(s.at))
				c := pluginstest.Ctx(t)
				c.RouteID = "r1"
				got := s.upstream
				if res := p.Access(c); res.Stopped() {
					got = res.Status
				} else if s.upstream == 0 {
					got = 403 // another plugin answered
					c.Status = 403
				} else {
					c.UpstreamAddr, c.Status = "127.0.0.1:1", s.upstream
				}
				p.Log(c)
				if got != s.want {
					t.Fatalf("step %d (second %d, upstream %d): client got %d, want %d", i, s.at, s.upstream, got, s.want)
				}
			}
		})
	}
}

func TestBreakResponse(t *testing.T) {
	tests := []struct {
		name, cfg string
		body      string
		header    string // X-Why, "" none
	}{
		{"body and headers", `{"break_response_code":502,"break_response_body":"down","break_response_headers":[{"key":"X-Why","value":"route $route_id"}],"unhealthy":{"failures":1}}`, "down", "route r7"},
		{"headers need a body", `{"break_response_code":503,"break_response_headers":[{"key":"X-Why","value":"x"}],"unhealthy":{"failures":1}}`, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pluginstest.Build(t, Spec, tt.cfg).(*Plugin)
			c := pluginstest.Ctx(t)
			c.RouteID, c.UpstreamAddr, c.Status = "r7", "127.0.0.1:1", 500
			p.Log(c)
			c = pluginstest.Ctx(t)
			c.RouteID = "r7"
			res := p.Access(c)
			if !res.Stopped() || string(res.Body) != tt.body {
				t.Fatalf("Access = %d %q, want a break with body %q", res.Status, res.Body, tt.body)
			}
			if got := c.W.Header().Get("X-Why"); got != tt.header {
				t.Errorf("X-Why = %q, want %q", got, tt.header)
			}
			// another route, host or uri has a breaker of its own
			for _, o := range []func(*http.Request){
				func(r *http.Request) { r.Host = "other.example" },
				func(r *http.Request) { r.URL.Path = "/other" },
			} {
				c := pluginstest.Ctx(t)
				c.RouteID = "r7"
				o(c.R)
				c.Path = c.R.URL.Path
				if res := p.Access(c); res.Stopped() {
					t.Errorf("a different host or uri is broken too")
				}
			}
		})
	}
}

func TestBreaker_hammer(t *testing.T) {
	p := pluginstest.Build(t, Spec, `{"break_response_code":599,"break_response_body":"hammer","unhealthy":{"failures":1000000}}`).(*Plugin)
	const workers, each = 8, 500
	done := make(chan struct{})
	for w := range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for range each {
				c := pluginstest.Ctx(t)
				c.RouteID = "h" + strconv.Itoa(w%2)
				p.Access(c)
				c.UpstreamAddr, c.Status = "127.0.0.1:1", 500
				p.Log(c)
			}
		}()
	}
	for range workers {
		<-done
	}
	for _, r := range []string{"h0", "h1"} {
		c := pluginstest.Ctx(t)
		c.RouteID = r
		k := key(c)
		sh := p.lock(&k)
		n := sh.M[k].unhealthy
		sh.Unlock()
		if n != workers/2*each {
			t.Errorf("route %s counted %d failures, want %d", r, n, workers/2*each)
		}
	}
}
