package prometheus

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/metrics"
	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/pluginstest"
)

func scrape(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(metrics.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/apisix/prometheus/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// request builds a finished request's Ctx; route ids are unique per test so series
// never collide across tests.
// uniq makes route ids unique per run of a test (-count=N), as the registry is global.
func uniq() string { return strconv.FormatInt(seq.Add(1), 10) }

var seq atomic.Int64

func request(t *testing.T, route string, opts ...func(*plugins.Ctx)) *plugins.Ctx {
	c := pluginstest.Ctx(t, pluginstest.Body("0123456789"))
	c.RouteID, c.RouteName = route, route+"-name"
	c.ServiceID, c.ServiceName = "s1", "svc"
	c.ConsumerName = "jack"
	c.UpstreamAddr = "10.0.0.7:8080"
	c.Status = 200
	c.Start = time.Now().Add(-30 * time.Millisecond)
	c.UpstreamTime = 12 * time.Millisecond
	c.W.Header().Set("Content-Length", "42")
	for _, o := range opts {
		o(c)
	}
	return c
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name, cfg string
		ok        bool
	}{
		{"empty", `{}`, true},
		{"prefer_name", `{"prefer_name":true}`, true},
		{"wrong type", `{"prefer_name":"yes"}`, false},
		{"unknown field", `{"prefer_names":true}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pluginstest.TryBuild(Spec, tt.cfg)
			if (err == nil) != tt.ok {
				t.Errorf("TryBuild(%s) = %v, want ok=%v", tt.cfg, err, tt.ok)
			}
		})
	}
}

func TestLog(t *testing.T) {
	tests := []struct {
		name  string
		cfg   string
		route string
		opts  []func(*plugins.Ctx)
		want  []string // lines (without value when it ends with a space) in the scrape
		never []string
	}{
		{
			name: "ids", cfg: `{}`, route: "tl-ids",
			opts: []func(*plugins.Ctx){func(c *plugins.Ctx) {
				c.SetVar("matched_uri", "/hello/*")
				c.SetVar("matched_host", "a.example")
			}},
			want: []string{
				`apisix_http_status{code="200",consumer="jack",matched_host="a.example",matched_uri="/hello/*",node="10.0.0.7",route="tl-ids",service="s1"} 1`,
				`apisix_http_latency_count{consumer="jack",node="10.0.0.7",route="tl-ids",service="s1",type="request"} 1`,
				`apisix_http_latency_count{consumer="jack",node="10.0.0.7",route="tl-ids",service="s1",type="upstream"} 1`,
				`apisix_http_latency_count{consumer="jack",node="10.0.0.7",route="tl-ids",service="s1",type="apisix"} 1`,
				`apisix_http_latency_bucket{consumer="jack",node="10.0.0.7",route="tl-ids",service="s1",type="upstream",le="10"} 0`,
				`apisix_http_latency_bucket{consumer="jack",node="10.0.0.7",route="tl-ids",service="s1",type="upstream",le="20"} 1`,
				`apisix_http_latency_bucket{consumer="jack",node="10.0.0.7",route="tl-ids",service="s1",type="request",le="20"} 0`,
				`apisix_http_latency_bucket{consumer="jack",node="10.0.0.7",route="tl-ids",service="s1",type="request",le="60000"} 1`,
				`apisix_http_latency_sum{consumer="jack",node="10.0.0.7",route="tl-ids",service="s1",type="upstream"} 12`,
				`apisix_bandwidth{consumer="jack",node="10.0.0.7",route="tl-ids",service="s1",type="ingress"} 10`,
				`apisix_bandwidth{consumer="jack",node="10.0.0.7",route="tl-ids",service="s1",type="egress"} 42`,
			},
		},
		{
			name: "prefer_name", cfg: `{"prefer_name":true}`, route: "tl-names",
			want: []string{
				`apisix_http_status{code="200",consumer="jack",matched_host="",matched_uri="",node="10.0.0.7",route="tl-names-name",service="svc"} 1`,
			},
			never: []string{`route="tl-names"`},
		},
		{
			name: "plugin answered: no upstream, no consumer", cfg: `{}`, route: "tl-403",
			opts: []func(*plugins.Ctx){func(c *plugins.Ctx) {
				c.Status, c.UpstreamAddr, c.UpstreamTime, c.ConsumerName = 403, "", 0, ""
				c.SetVar("request_length", "300")
				c.SetVar("bytes_sent", "180")
			}},
			want: []string{
				`apisix_http_status{code="403",consumer="",matched_host="",matched_uri="",node="",route="tl-403",service="s1"} 1`,
				`apisix_http_latency_count{consumer="",node="",route="tl-403",service="s1",type="apisix"} 1`,
				`apisix_bandwidth{consumer="",node="",route="tl-403",service="s1",type="ingress"} 300`,
				`apisix_bandwidth{consumer="",node="",route="tl-403",service="s1",type="egress"} 180`,
			},
			never: []string{`route="tl-403",service="s1",type="upstream"`},
		},
		{
			name: "no start time: no request latency", cfg: `{}`, route: "tl-nostart",
			opts: []func(*plugins.Ctx){func(c *plugins.Ctx) { c.Start = time.Time{} }},
			want: []string{
				`apisix_http_latency_count{consumer="jack",node="10.0.0.7",route="tl-nostart",service="s1",type="upstream"} 1`,
			},
			never: []string{`route="tl-nostart",service="s1",type="request"`, `route="tl-nostart",service="s1",type="apisix"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pluginstest.Build(t, Spec, tt.cfg).(*Plugin)
			id := tt.route + "-" + uniq()
			p.Log(request(t, id, tt.opts...))
			out := scrape(t)
			for _, w := range tt.want {
				w = strings.ReplaceAll(w, `"`+tt.route, `"`+id)
				if !strings.Contains(out, w+"\n") {
					t.Errorf("scrape lacks %s", w)
				}
			}
			for _, n := range tt.never {
				n = strings.ReplaceAll(n, `"`+tt.route+`"`, `"`+id+`"`)
				if strings.Contains(out, n) {
					t.Errorf("scrape has %s", n)
				}
			}
		})
	}
}

// TestLogAllocs: once a label tuple was seen, recording allocates nothing.
func TestLogAllocs(t *testing.T) {
	p := pluginstest.Build(t, Spec, `{}`).(*Plugin)
	c := request(t, "allocs")
	p.Log(c)
	if n := testing.AllocsPerRun(200, func() { p.Log(c) }); n != 0 {
		t.Errorf("Log allocates %v times per request", n)
	}
}

func TestLog_hammer(t *testing.T) {
	p := pluginstest.Build(t, Spec, `{}`).(*Plugin)
	const workers, each = 8, 250
	ctxs := make([]*plugins.Ctx, workers)
	route := "hammer-" + uniq()
	for w := range ctxs {
		ctxs[w] = request(t, route, func(c *plugins.Ctx) { c.Status = 200 + w%2 })
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(c *plugins.Ctx) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				p.Log(c)
			}
		}(ctxs[w])
	}
	wg.Wait()
	out := scrape(t)
	for _, w := range []string{
		`apisix_http_status{code="200",consumer="jack",matched_host="",matched_uri="",node="10.0.0.7",route="hammer",service="s1"} 1000`,
		`apisix_http_status{code="201",consumer="jack",matched_host="",matched_uri="",node="10.0.0.7",route="hammer",service="s1"} 1000`,
		`apisix_http_latency_count{consumer="jack",node="10.0.0.7",route="hammer",service="s1",type="request"} 2000`,
	} {
		w = strings.ReplaceAll(w, `"hammer"`, `"`+route+`"`)
		if !strings.Contains(out, w+"\n") {
			t.Errorf("scrape lacks %s", w)
		}
	}
}
