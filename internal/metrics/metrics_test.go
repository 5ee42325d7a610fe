package metrics

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Scrape returns the text exposition of the registry.
func scrape(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("scrape: %d %s", resp.StatusCode, b)
	}
	return string(b)
}

// value reads one series' value (a counter, gauge, or a histogram's count) from the
// registry; 0 when absent.
func value(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}

func TestScrape(t *testing.T) {
	type series struct {
		name   string
		labels []string
	}
	counted := []series{
		{"apisix_http_requests_total", nil},
		{"portico_wasm_hook_calls_total", []string{"module", "auth.wasm", "result", "ok"}},
		{"portico_wasm_hook_calls_total", []string{"module", "auth.wasm", "result", "trap"}},
		{"portico_ext_plugin_rpc_seconds", nil},
		{"portico_ext_plugin_runner_restarts_total", nil},
		{"portico_access_log_dropped_total", nil},
		{"portico_logger_dropped_total", []string{"plugin", "http-logger"}},
	}
	want := []float64{1, 2, 1, 1, 1, 1, 3}
	before := make([]float64, len(counted))
	for i, s := range counted {
		before[i] = value(t, s.name, s.labels...)
	}

	CountRequest()
	SetEtcdReachable(true)
	SetNodeInfo("gw-1", "3.16.0")
	SetNodeInfo("gw-1", "3.17.0") // replaces the previous series
	SetUpstreamStatus("/apisix/upstreams/1", "10.0.0.1", 8080, true)
	SetUpstreamStatus("/apisix/upstreams/1", "10.0.0.2", 8080, false)
	SetUpstreamStatus("/apisix/upstreams/1", "10.0.0.3", 8080, true)
	DeleteUpstreamStatus("/apisix/upstreams/1", "10.0.0.3", 8080)
	WasmHookCall("auth.wasm", WasmOK)
	WasmHookCall("auth.wasm", WasmOK)
	WasmHookCall("auth.wasm", WasmTrap)
	ExtPluginRPC(3 * time.Millisecond)
	ExtPluginRunnerRestart()
	AccessLogDropped()
	LoggerDropped("http-logger", 3)
	LoggerDropped("http-logger", 0)
	HTTPStatus.WithLabelValues("200", "1", "/x", "", "", "", "10.0.0.1").Inc()
	HTTPLatency.WithLabelValues("request", "1", "", "", "10.0.0.1").Observe(3)
	Bandwidth.WithLabelValues("egress", "1", "", "", "10.0.0.1").Add(10)

	for i, s := range counted {
		if got := value(t, s.name, s.labels...) - before[i]; got != want[i] {
			t.Errorf("%s%v grew by %v, want %v", s.name, s.labels, got, want[i])
		}
	}

	out := scrape(t)
	for _, w := range []string{
		"# TYPE apisix_http_requests_total gauge",
		"apisix_etcd_reachable 1",
		`apisix_node_info{hostname="gw-1",version="3.17.0"} 1`,
		`apisix_upstream_status{ip="10.0.0.1",name="/apisix/upstreams/1",port="8080"} 1`,
		`apisix_upstream_status{ip="10.0.0.2",name="/apisix/upstreams/1",port="8080"} 0`,
		`# TYPE portico_wasm_hook_calls_total counter`,
		`# TYPE portico_ext_plugin_rpc_seconds histogram`,
		`portico_ext_plugin_rpc_seconds_bucket{le="0.0025"} `,
		"# TYPE apisix_http_status counter",
		`apisix_http_status{code="200",consumer="",matched_host="",matched_uri="/x",node="10.0.0.1",route="1",service=""} `,
		"# TYPE apisix_http_latency histogram",
		`apisix_http_latency_bucket{consumer="",node="10.0.0.1",route="1",service="",type="request",le="5"} `,
		"# TYPE apisix_bandwidth counter",
		`apisix_bandwidth{consumer="",node="10.0.0.1",route="1",service="",type="egress"} `,
		"# TYPE go_goroutines gauge",
		"# TYPE go_memstats_heap_alloc_bytes gauge",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("scrape lacks %q", w)
		}
	}
	for _, absent := range []string{`version="3.16.0"`, `ip="10.0.0.3"`, "process_open_fds"} {
		if strings.Contains(out, absent) {
			t.Errorf("scrape has %q", absent)
		}
	}
}

// conn is a distinct net.Conn per value.
type conn struct{ net.Conn }

func connGauges() [6]float64 {
	var out [6]float64
	for i, s := range []string{"active", "reading", "writing", "waiting", "accepted", "handled"} {
		out[i] = gaugeValue(conns.WithLabelValues(s))
	}
	return out
}

// connGaugesSince is connGauges less base.
func connGaugesSince(base [6]float64) [6]float64 {
	got := connGauges()
	for j := range got {
		got[j] -= base[j]
	}
	return got
}

func TestConnState(t *testing.T) {
	base := connGauges()
	a, b := &conn{}, &conn{}
	steps := []struct {
		c    net.Conn
		s    http.ConnState
		want [6]float64 // active, reading, writing, waiting, accepted, handled: change from base
	}{
		{a, http.StateNew, [6]float64{1, 1, 0, 0, 1, 1}},
		{b, http.StateNew, [6]float64{2, 2, 0, 0, 2, 2}},
		{a, http.StateActive, [6]float64{2, 1, 1, 0, 2, 2}},
		{a, http.StateIdle, [6]float64{2, 1, 0, 1, 2, 2}},
		{b, http.StateActive, [6]float64{2, 0, 1, 1, 2, 2}},
		{b, http.StateHijacked, [6]float64{1, 0, 0, 1, 2, 2}},
		{a, http.StateClosed, [6]float64{0, 0, 0, 0, 2, 2}},
		{a, http.StateClosed, [6]float64{0, 0, 0, 0, 2, 2}}, // twice: no effect
	}
	for i, st := range steps {
		ConnState(st.c, st.s)
		if got := connGaugesSince(base); got != st.want {
			t.Errorf("step %d (%v): got %v, want %v", i, st.s, got, st.want)
		}
	}
}

func TestConnStateChange(t *testing.T) {
	base := connGauges()
	steps := []struct {
		prev, next http.ConnState
		want       [6]float64 // active, reading, writing, waiting, accepted, handled: change from base
	}{
		{http.StateNew, http.StateNew, [6]float64{1, 1, 0, 0, 1, 1}},    // a
		{http.StateNew, http.StateNew, [6]float64{2, 2, 0, 0, 2, 2}},    // b
		{http.StateNew, http.StateActive, [6]float64{2, 1, 1, 0, 2, 2}}, // a
		{http.StateActive, http.StateIdle, [6]float64{2, 1, 0, 1, 2, 2}},
		{http.StateNew, http.StateActive, [6]float64{2, 0, 1, 1, 2, 2}}, // b
		{http.StateActive, http.StateHijacked, [6]float64{1, 0, 0, 1, 2, 2}},
		{http.StateIdle, http.StateClosed, [6]float64{0, 0, 0, 0, 2, 2}}, // a
	}
	for i, st := range steps {
		ConnStateChange(st.prev, st.next)
		if got := connGaugesSince(base); got != st.want {
			t.Errorf("step %d (%v → %v): got %v, want %v", i, st.prev, st.next, got, st.want)
		}
	}
}

func TestConnState_hammer(t *testing.T) {
	base := connGauges()
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				c := &conn{}
				ConnState(c, http.StateNew)
				ConnState(c, http.StateActive)
				ConnState(c, http.StateIdle)
				ConnState(c, http.StateActive)
				ConnState(c, http.StateClosed)
			}
		}()
	}
	wg.Wait()
	got := connGauges()
	for j := range got {
		got[j] -= base[j]
	}
	if want := [6]float64{0, 0, 0, 0, 3200, 3200}; got != want {
		t.Errorf("after hammer: %v, want %v", got, want)
	}
}

func TestWasmHookCallAllocs(t *testing.T) {
	WasmHookCall("m", WasmOK)
	if n := testing.AllocsPerRun(100, func() { WasmHookCall("m", WasmOK) }); n != 0 {
		t.Errorf("WasmHookCall allocates %v times", n)
	}
}

func gaugeValue(g prometheus.Gauge) float64 {
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		panic(err)
	}
	return m.GetGauge().GetValue()
}
