// Package redislimit is the redis plumbing of the limit-* plugins' `redis` and
// `redis-cluster` policies: the connection fields with APISIX's names and checks
// (Config), one shared go-redis client per distinct connection config (Acquire), the
// atomic Lua scripts APISIX runs for limit-count, limit-req and limit-conn, APISIX's key
// layout, and the rate-limited log of a redis that fails.
//
// Every counter update is one script (EVALSHA, EVAL when the server answers NOSCRIPT) on
// one key, so it is atomic on a single server and slot-safe on a cluster. A client has
// no retries (a script that ran but whose answer was lost must not run twice) and one
// dial attempt; redis_timeout bounds the dial, the write, the read and the wait for a
// pooled connection. The caller decides what a failure means: 500, or the request passes
// with allow_degradation.
//
// It must not import plugins other than the contract, and must not log per request: a
// failing client logs at most once per LogEvery, counting what it left out.
//
// # Why clients live in package-level state, and nobody closes them
//
// A plugin instance is rebuilt with every snapshot. A client per instance would dial a
// new pool on every admin write and leave the old one to be closed at a moment no
// instance knows (a request of the old snapshot may still be running). So clients sit in
// a package-level registry keyed by a digest of the connection config, shared by every
// instance, route and plugin with the same config. This is the one piece of global state
// of the package. A client is never closed: the set of distinct redis configs a node
// sees is small, an idle pool shrinks to nothing after redis_keepalive_timeout, and the
// process exit closes the rest.
package redislimit
