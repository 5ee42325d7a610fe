// Package limitcount is APISIX's limit-count: at most `count` requests per `time_window`
// seconds per key, in fixed windows. Priority 1002, phase access.
//
// Policies "local" (counters in this process, below) and "redis"/"redis-cluster" (one
// counter for every node, through plugins/internal/redislimit: APISIX's script and key,
// no local state). "redis-sentinel" is refused when written ("not supported yet"), as are
// sync_interval with a redis policy, string (`$var`) values of count/time_window, `rules`
// and window_type "sliding".
//
// Bad input: a missing or non-positive count/time_window, an unknown key_type or
// policy, a redis policy without its address fields, a rejected_code outside 200–599 or
// an empty rejected_msg is refused when written. At request time a key variable that is
// missing falls back to remote_addr, as in APISIX; with a redis policy, a redis that fails
// answers 500 {"error_msg":"failed to limit count"}, or lets the request pass with
// allow_degradation.
//
// # Why counters live in package-level state
//
// A Plugin is rebuilt with every snapshot, i.e. whenever any route, service or consumer
// changes. Counters must not reset because an unrelated object changed, so they are not
// kept in the Plugin: they live in a store found in a package-level registry (a
// counters.Registry) by "conf:<sha256 of the config>" (or "group:<name>" when `group` is
// set), which the rebuilt Plugin finds again. This is the one piece of global state;
// STYLE forbids others. A changed limit-count config gets a fresh store, which is
// APISIX's behaviour too (its counter key holds the crc32 of the plugin conf).
//
// Inside a store a counter is keyed by route id, consumer name and the resolved key, so
// two routes with identical configs do not share counters, nor do two consumers that
// carry the same config (APISIX keys by the owning object; the plugin contract does not
// tell a Plugin which object it was built for, see README).
//
// One goroutine, started by the first New, sweeps every 10 s: it drops expired windows
// and removes a store from the registry once it is empty (every window expired, so
// nothing is lost). A Plugin still holding a removed store notices under the shard lock
// (the store is marked dead) and fetches the live one, so no hit is ever counted in a
// store nobody reads.
package limitcount
