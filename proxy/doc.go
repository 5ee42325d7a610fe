// Package proxy owns the data plane: the listener's handler, path canonicalisation, the
// immutable Snapshot (router, services merged into routes, upstream pickers) built from
// the store's items, hot reload from the store's watch, and forwarding to upstreams with
// retries, health checks, streaming and upgrades.
//
// It must not read the store on the request path or decode configuration per request:
// everything a request needs is compiled into the Snapshot, which is swapped with one
// atomic pointer store. A request keeps the snapshot it started with.
//
// # Path canonicalisation
//
// The router, plugins and the upstream all see one path, the canonical one (the `uri`
// variable), built from the request target as nginx builds $uri:
//
//   - percent-escapes are decoded once (so %2F is '/', %2e is '.'); an escape that is not
//     two hex digits, or one that decodes to NUL (%00), is refused with 400;
//   - runs of '/' become one '/';
//   - "." segments are dropped and ".." removes the segment before it; a ".." that would
//     climb above the root is refused with 400.
//
// The upstream receives the canonical path, escaped again, with the query unchanged, so a
// client cannot show the router one path and the upstream another. A request whose path
// is already canonical (the common case) costs no allocation.
//
// # Headers
//
// Hop-by-hop headers (Connection, those Connection names, Keep-Alive, Proxy-Connection,
// TE, Trailer, Transfer-Encoding, Upgrade) are removed before anything else, then the
// gateway sets X-Real-IP, X-Forwarded-For (appended), X-Forwarded-Proto, -Host and -Port,
// so a client's Connection header can never strip what the gateway sets. Upgrade is kept
// only for a WebSocket upgrade on a route with enable_websocket.
//
// # Attempts and retries
//
// An attempt picks a node the request has not tried, skipping unhealthy ones unless all
// are. A failed attempt is retried on another node while `retries` (default: nodes − 1)
// and `retry_timeout` allow; a request with a body, or a non-idempotent one (POST,
// PATCH), only when the node refused the connection, since its body is streamed, never
// buffered. The balancer hears of a successful attempt when its response has been
// copied (least_conn counts it active until then; ewma measures the whole response), as
// APISIX ends it in the log phase. The upstream's `timeout.read` bounds the wait for the
// response header; a route's `timeout` bounds connect + read the same way.
//
// # Reload
//
// An upstream is identified by its configuration without metadata: a snapshot reuses
// the previous one's upstream (checker, balancer, pooled connections) when that is
// unchanged, even if the upstream was written again, and routes with the same inline
// upstream share one.
//
// # Upstream errors
//
// One function maps them: no route 404 {"error_msg":"404 Route Not Found"}; a route
// whose upstream_id or service_id names nothing 502/404; empty nodes 503; connection
// refused or reset 502; an upstream timeout 504. Every body is JSON {"error_msg": …}.
package proxy
