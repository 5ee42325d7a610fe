// Package limitreq is APISIX's limit-req: a leaky bucket per key, as nginx's limit_req
// and lua-resty-limit-traffic's limit.req. Priority 1001, phase access.
//
// A request above `rate` per second is delayed (slept) until the bucket drains to it,
// unless `nodelay`; one that would push the excess above `burst` is rejected with
// `rejected_code`. The sleep is bounded by burst/rate and ends early when the client
// goes away. Policies "local" (buckets in this process, below) and
// "redis"/"redis-cluster" (one bucket for every node, through
// plugins/internal/redislimit: APISIX's script and key; a redis that fails answers 500
// {"error_msg":"failed to limit req"}, or lets the request pass with allow_degradation).
//
// Bad input: a missing or non-positive rate, a missing or negative burst, a missing key,
// an unknown key_type or policy, a redis policy without its address fields, a
// rejected_code outside 200–599 or an empty rejected_msg is refused when written. At
// request time a key variable that is missing falls back to remote_addr, as in APISIX;
// only redis can fail (above).
//
// # Why buckets live in package-level state
//
// A Plugin is rebuilt with every snapshot, whenever any object changes; buckets must not
// reset because an unrelated object changed. They live in a store found in a
// package-level registry (a counters.Registry) by the sha256 of the config, which the
// rebuilt Plugin finds again — the one piece of global state. A changed config starts
// fresh, as in APISIX (whose key holds the conf version). Inside a store a bucket is
// keyed by route id, consumer name and the resolved key (APISIX keys by the owning
// object, which the plugin contract does not reveal). One goroutine, started by the first
// New, sweeps every 10 s: it drops drained buckets and retires a store once it is empty
// (a drained bucket is the same as none, so nothing is lost); a Plugin holding a retired
// store sees it marked dead under the shard lock and fetches the live one.
package limitreq
