// Package metrics owns Portico's Prometheus registry: every series the node exports,
// under APISIX's names and labels (so existing APISIX dashboards work) plus Portico's
// own, and Handler, which serves them for /apisix/prometheus/metrics.
//
// Other packages record through the functions here (ConnState, CountRequest,
// SetUpstreamStatus, SetEtcdReachable, SetNodeInfo, WasmHookCall, ExtPluginRPC,
// ExtPluginRunnerRestart, AccessLogDropped, LoggerDropped, CountPanic); the prometheus
// plugin records the per-request HTTP series through HTTPStatus, HTTPLatency and
// Bandwidth. It must not import other Portico packages, log, or block: every function
// is safe for concurrent use and returns at once.
//
// # Why one package-level registry
//
// A metric is a process-wide fact: connection counts, etcd reachability and a route's
// request counts outlive every snapshot (a Plugin is rebuilt whenever any object
// changes, and counters must not reset then), and the recorders are called from
// packages that share nothing else (listeners, health checker, wasm host, runner
// supervisor, loggers). So the registry is the one piece of global state here, created
// at init with every series registered. Besides what is listed below it holds only
// client_golang's Go runtime collector (go_goroutines, go_threads, go_memstats_*,
// go_gc_*: what an operator or the soak test watches for leaks), whose names are the
// same on every platform; no process collector, whose series depend on the platform,
// so a scrape shows the same names on every node.
//
// Series (APISIX's, with its types: counters are exported without a _total suffix where
// APISIX has none):
//
//	apisix_http_status{code,route,matched_uri,matched_host,service,consumer,node}  counter
//	apisix_http_latency{type,route,service,consumer,node}  histogram, ms, APISIX's buckets
//	apisix_bandwidth{type,route,service,consumer,node}  counter, bytes
//	apisix_http_requests_total  gauge (as APISIX's)
//	apisix_nginx_http_current_connections{state}  gauge
//	apisix_upstream_status{name,ip,port}  gauge, 1 healthy, 0 unhealthy
//	apisix_etcd_reachable  gauge
//	apisix_node_info{hostname,version}  gauge, 1
//
// Portico's own:
//
//	portico_wasm_hook_calls_total{module,result}  counter; result ok, trap or timeout
//	portico_ext_plugin_rpc_seconds  histogram
//	portico_ext_plugin_runner_restarts_total  counter
//	portico_access_log_dropped_total  counter
//	portico_logger_dropped_total{plugin}  counter
//	portico_panics_total{where}  counter; where proxy or admin: panics recovered in a handler
package metrics
