// Package prometheus is APISIX's prometheus plugin: in the log phase it records the
// request in apisix_http_status, apisix_http_latency and apisix_bandwidth, with APISIX's
// names, labels and buckets, so existing APISIX dashboards work. Priority 500, phase log,
// run policy prefer_route (a global rule's instance is skipped when the route has the
// plugin too).
//
// The registry, the exporter (/apisix/prometheus/metrics) and the node-wide series
// (connections, upstream health, etcd, wasm hooks, the external runner) belong to
// internal/metrics; this package only records requests into it.
//
// Bad input: only prefer_name (a boolean) is accepted. At request time nothing can fail:
// a value the request lacks is an empty label (no consumer, no upstream node), as in
// APISIX.
//
// # Where the values come from
//
//   - route/service: the matched route's id and its service's id, or with prefer_name
//     their names when they have one.
//   - matched_uri/matched_host: the variables `matched_uri` and `matched_host` (the
//     route's uri pattern and host that matched); empty until the proxy sets them.
//   - node: the host part of the upstream address the request went to.
//   - latency: type request is Ctx.Start to the log phase, type upstream is
//     Ctx.UpstreamTime (only when an upstream was called), type apisix the difference,
//     never below 0. A Ctx without Start records no request or apisix latency.
//   - bandwidth: ingress is the variable `request_length` (nginx: the whole request),
//     else the request's Content-Length; egress is `bytes_sent`, else the response's
//     Content-Length header.
//
// # No allocation per request
//
// A Plugin keeps the label-bound series of each label tuple it has seen in a sync.Map
// keyed by a small comparable struct, so a request whose tuple was seen before does a
// lock-free lookup and atomic adds, nothing else. The cache lives in the Plugin (it is
// rebuilt with the snapshot, the series it points at live on in the registry); the
// package keeps no state.
package prometheus
