// Package limitconn is APISIX's limit-conn: it limits the requests in flight per key.
// Priority 1003, phases access (count) and log (uncount).
//
// Up to `conn` concurrent requests pass; up to `conn + burst` pass after a delay of
// default_conn_delay × ⌊(n−1)/conn⌋ seconds (n: the requests in flight, this one
// included), as lua-resty-limit-traffic's limit.conn computes it; beyond, the request is
// rejected with `rejected_code`. The delay ends early when the client goes away. Policies
// "local" (counts in this process, below) and "redis"/"redis-cluster" (APISIX's sorted
// set of requests in flight, shared by every node, through plugins/internal/redislimit;
// the log phase removes the request, key_ttl frees the slot of one never removed; a redis
// that fails answers 500 {"error_msg":"failed to limit conn"}, or lets the request pass
// with allow_degradation).
//
// Bad input: a missing or non-positive conn, a missing or negative burst, a missing or
// non-positive default_conn_delay, a missing key, an unknown key_type or policy, a
// redis policy without its address fields, a rejected_code outside 200–599 or an empty
// rejected_msg is refused when written. At request time a key variable that is missing
// falls back to remote_addr, as in APISIX; only redis can fail (above).
//
// # State
//
// Counters live in a store found in a package-level registry (a counters.Registry) by the
// sha256 of the config — the one piece of global state — so that a snapshot rebuilt for
// an unrelated change shares them: the request counted by the old snapshot's instance is
// uncounted in the same store, and the new instance sees it in flight. Inside a store a
// counter is keyed by route id, consumer name and the resolved key. A counter is deleted
// when it drops to zero; one goroutine, started by the first New, retires empty stores
// every 10 s (marking them dead under every shard lock; an instance holding one fetches
// the live store).
//
// The access phase remembers the key it counted for the log phase in the Ctx's plugin
// state, keyed by the instance.
package limitconn
