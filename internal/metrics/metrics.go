package metrics

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// LatencyBuckets are APISIX's default apisix_http_latency buckets, in milliseconds.
var LatencyBuckets = []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000}

// rpcBuckets cover a local runner's answers: 100 µs to 2.5 s.
var rpcBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}

// registry is the one registry (see doc.go), with the Go runtime collector.
var registry = func() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector())
	return r
}()

// The per-request HTTP series, recorded by the prometheus plugin. Label values are in
// the order of the label names listed in doc.go. Do not reassign.
var (
	HTTPStatus = newCounterVec("apisix_http_status", "HTTP status codes per service in APISIX",
		"code", "route", "matched_uri", "matched_host", "service", "consumer", "node")
	HTTPLatency = func() *prometheus.HistogramVec {
		v := prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "apisix_http_latency",
			Help:    "HTTP request latency in milliseconds per service in APISIX",
			Buckets: LatencyBuckets,
		}, []string{"type", "route", "service", "consumer", "node"})
		registry.MustRegister(v)
		return v
	}()
	Bandwidth = newCounterVec("apisix_bandwidth", "Total bandwidth in bytes consumed per service in APISIX",
		"type", "route", "service", "consumer", "node")
)

var (
	requests = newGauge("apisix_http_requests_total", "The total number of client requests since APISIX started")
	etcd     = newGauge("apisix_etcd_reachable", "Config server etcd reachable from APISIX, 0 is unreachable")
	nodeInfo = newGaugeVec("apisix_node_info", "Info of APISIX node", "hostname", "version")
	upstream = newGaugeVec("apisix_upstream_status", "Upstream status from health check", "name", "ip", "port")
	conns    = newGaugeVec("apisix_nginx_http_current_connections", "Number of HTTP connections", "state")

	wasmCalls = newCounterVec("portico_wasm_hook_calls_total",
		"Wasm hook calls by module and result (ok, trap, timeout)", "module", "result")
	extRPC = func() prometheus.Histogram {
		h := prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "portico_ext_plugin_rpc_seconds",
			Help:    "Duration of RPC calls to the external plugin runner, in seconds",
			Buckets: rpcBuckets,
		})
		registry.MustRegister(h)
		return h
	}()
	extRestarts = newCounter("portico_ext_plugin_runner_restarts_total",
		"Times the external plugin runner was restarted")
	accessLogDropped = newCounter("portico_access_log_dropped_total",
		"Access log lines dropped because the writer's queue was full")
	loggerDropped = newCounterVec("portico_logger_dropped_total",
		"Log entries a logger plugin dropped because its queue was full or its sink failed", "plugin")
	panics = newCounterVec("portico_panics_total",
		"Panics recovered in a request handler, by where (proxy, admin)", "where")
)

// Connection gauges, one per nginx stub_status state.
var (
	connActive   = conns.WithLabelValues("active")
	connReading  = conns.WithLabelValues("reading")
	connWriting  = conns.WithLabelValues("writing")
	connWaiting  = conns.WithLabelValues("waiting")
	connAccepted = conns.WithLabelValues("accepted")
	connHandled  = conns.WithLabelValues("handled")
)

func newCounterVec(name, help string, labels ...string) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	registry.MustRegister(v)
	return v
}

func newGaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	registry.MustRegister(v)
	return v
}

func newCounter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	registry.MustRegister(c)
	return c
}

func newGauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	registry.MustRegister(g)
	return g
}

// Registry returns the registry, for a caller that must add a collector of its own.
func Registry() *prometheus.Registry { return registry }

// Handler serves the registry in the Prometheus text format (OpenMetrics when asked).
func Handler() http.Handler {
	return promhttp.HandlerFor(registry, promhttp.HandlerOpts{})
}

// CountRequest counts one client request (apisix_http_requests_total). The proxy calls
// it once per request, matched or not.
func CountRequest() { requests.Inc() }

// SetEtcdReachable reports whether the configuration store answers.
func SetEtcdReachable(ok bool) {
	if ok {
		etcd.Set(1)
	} else {
		etcd.Set(0)
	}
}

// SetNodeInfo sets apisix_node_info to the one series {hostname, version} = 1.
func SetNodeInfo(hostname, version string) {
	nodeInfo.Reset()
	nodeInfo.WithLabelValues(hostname, version).Set(1)
}

// SetUpstreamStatus reports a health-checked node: name is the upstream's key as APISIX
// names it ("/apisix/upstreams/1", "/apisix/routes/1"), ip and port the node's.
func SetUpstreamStatus(name, ip string, port int, healthy bool) {
	v := 0.0
	if healthy {
		v = 1
	}
	upstream.WithLabelValues(name, ip, strconv.Itoa(port)).Set(v)
}

// DeleteUpstreamStatus removes a node's series, when its checker is gone.
func DeleteUpstreamStatus(name, ip string, port int) {
	upstream.DeleteLabelValues(name, ip, strconv.Itoa(port))
}

// connStates remembers each open connection's last state, so a change moves it from one
// gauge to another.
var connStates sync.Map // net.Conn → http.ConnState

// ConnState is an http.Server ConnState hook keeping
// apisix_nginx_http_current_connections as nginx's stub_status would: accepted and
// handled count every connection; active is the open ones, split into reading (a new
// connection, its first request not started), writing (a request in progress) and
// waiting (idle keep-alive). A hijacked connection (WebSocket) leaves the gauges, as net/http
// stops reporting it.
func ConnState(c net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		connAccepted.Inc()
		connHandled.Inc()
		connActive.Inc()
		connReading.Inc()
		connStates.Store(c, s)
	case http.StateActive, http.StateIdle:
		prev, ok := connStates.Swap(c, s)
		if ok {
			stateGauge(prev.(http.ConnState)).Dec()
		} else {
			connActive.Inc() // opened before the hook was installed
		}
		stateGauge(s).Inc()
	case http.StateHijacked, http.StateClosed:
		if prev, ok := connStates.LoadAndDelete(c); ok {
			stateGauge(prev.(http.ConnState)).Dec()
			connActive.Dec()
		}
	}
}

// ConnStateChange keeps the same gauges as ConnState for a server that tells the
// state a connection leaves (proxy/h1's hook): no table of connections, no lookup.
func ConnStateChange(prev, next http.ConnState) {
	switch next {
	case http.StateNew:
		connAccepted.Inc()
		connHandled.Inc()
		connActive.Inc()
		connReading.Inc()
	case http.StateActive, http.StateIdle:
		stateGauge(prev).Dec()
		stateGauge(next).Inc()
	case http.StateHijacked, http.StateClosed:
		stateGauge(prev).Dec()
		connActive.Dec()
	}
}

func stateGauge(s http.ConnState) prometheus.Gauge {
	switch s {
	case http.StateActive:
		return connWriting
	case http.StateIdle:
		return connWaiting
	}
	return connReading
}

// Results of a wasm hook call, for WasmHookCall.
const (
	WasmOK      = "ok"
	WasmTrap    = "trap"
	WasmTimeout = "timeout"
)

type labelPair struct{ a, b string }

var wasmChildren sync.Map // labelPair → prometheus.Counter

// WasmHookCall counts one call of a wasm hook of module; result is WasmOK, WasmTrap or
// WasmTimeout.
func WasmHookCall(module, result string) { WasmHookCounter(module, result).Inc() }

// WasmHookCounter is the series WasmHookCall(module, result) counts, for a caller that
// resolves it once (a hook's ok series) instead of on every call.
func WasmHookCounter(module, result string) interface{ Inc() } {
	k := labelPair{module, result}
	if c, ok := wasmChildren.Load(k); ok {
		return c.(prometheus.Counter)
	}
	c, _ := wasmChildren.LoadOrStore(k, wasmCalls.WithLabelValues(module, result))
	return c.(prometheus.Counter)
}

// ExtPluginRPC records how long one RPC to the external plugin runner took.
func ExtPluginRPC(d time.Duration) { extRPC.Observe(d.Seconds()) }

// ExtPluginRunnerRestart counts a restart of the external plugin runner.
func ExtPluginRunnerRestart() { extRestarts.Inc() }

// AccessLogDropped counts an access log line dropped on a full queue.
func AccessLogDropped() { accessLogDropped.Inc() }

// LoggerDropped counts n log entries a logger plugin ("http-logger", "file-logger")
// dropped.
func LoggerDropped(plugin string, n int) {
	if n > 0 {
		loggerDropped.WithLabelValues(plugin).Add(float64(n))
	}
}

// Where a panic was recovered, for CountPanic.
const (
	PanicProxy = "proxy" // the data plane's handler: a plugin, a hook or the gateway
	PanicAdmin = "admin" // the Admin API's handler
)

// panicChildren are portico_panics_total's two series, created at init so both are
// exported (at 0) before anything panics.
var panicChildren = map[string]prometheus.Counter{
	PanicProxy: panics.WithLabelValues(PanicProxy),
	PanicAdmin: panics.WithLabelValues(PanicAdmin),
}

// CountPanic counts a panic recovered in a request handler; where is PanicProxy or
// PanicAdmin.
func CountPanic(where string) {
	if c, ok := panicChildren[where]; ok {
		c.Inc()
		return
	}
	panics.WithLabelValues(where).Inc()
}
