// Package health owns upstream health checks as APISIX configures them in an upstream's
// `checks` (schema_def.lua health_checker) and lua-resty-healthcheck runs them: the Config
// type with its validation and defaults, active probes (http, https, tcp) and passive
// reports from the proxy's own attempts.
//
// It must not pick nodes or decide what to do when all nodes are unhealthy: the proxy asks
// Healthy(i) when it builds the balancer's skip, and when AllUnhealthy it balances over all
// nodes (APISIX: "all upstream nodes is unhealthy, use default"). It must not import other
// Portico packages: the proxy learns of state changes through OnChange (it exports them
// as apisix_upstream_status). Healthy and Report run on every request: they take no
// lock, and allocate only to log a node changing state; a change also takes the lock
// that orders OnChange calls.
//
// # Life of a Checker
//
// NewChecker starts one goroutine per Checker (none without active checks) that probes the
// healthy nodes every healthy.interval and the unhealthy ones every unhealthy.interval,
// sending at most `concurrency` probes at once; Close stops it. A node starts healthy. To
// keep the health it learned across snapshots, the proxy keeps a map Key(cfg, addrs) →
// *Checker, reuses the Checker when the key is unchanged and closes those no snapshot uses.
// APISIX instead starts a checker one second after an upstream's first request and
// replaces it whenever the upstream changes at all; APISIX also skips checks for an
// upstream of one node (the proxy's choice).
//
// # Counting
//
// Active and passive results share four counters per node (successes, http_failures,
// tcp_failures, timeouts) and the four states of lua-resty-healthcheck; see record. Probe
// results: a status in active.healthy.http_statuses is a success, one in
// active.unhealthy.http_statuses an http failure, any other status nothing; no response
// within active.timeout is a timeout; any other error (refused, reset) a tcp failure.
// Redirects are not followed. Probes close their connection (Connection: close).
//
// # Differences from APISIX
//
//   - Intervals are seconds as numbers, at least MinInterval (0.01); APISIX wants integers
//     of at least 1. Fractions let tests and impatient users probe faster.
//   - A field left 0 or empty means "not set" and takes the default; APISIX refuses an
//     explicit 0 or an empty status list. timeout must be above 0 (APISIX does not check).
//   - http_path must start with "/" and hold no space, and each req_headers entry must be
//     "Name: value"; APISIX sends whatever it is given and the probe fails.
//   - http_method and http_req_body, which lua-resty-healthcheck reads but APISIX's schema
//     does not list, are accepted (http_method one of GET, HEAD, POST, …).
//   - Probe Host header: active.host, else the hostHeader the proxy passes (APISIX passes
//     upstream_host with pass_host rewrite), else the node's host; a "Host: …" entry in
//     req_headers wins over all of them instead of being sent twice.
package health
