// Package trafficsplit is APISIX's traffic-split: the first rule whose `match` passes
// sends the request to one of its weighted upstreams, by smooth weighted round robin.
// Priority 966, phase access.
//
// The plugin only picks: it sets Ctx.Upstream to a stored upstream's id or to the
// store.UpstreamKey of an upstream written inline, or to nil for the route's own
// upstream (a weighted upstream with neither upstream nor upstream_id). The proxy
// compiles every upstream a traffic-split config names when it builds the snapshot and
// looks the pick up there; an upstream_id that names no upstream is answered 500 then, as
// APISIX answers it.
//
// Rules are tried in order with APISIX's one quirk kept: a rule whose `match` is an
// empty array passes only when no rule before it failed (the Lua's `match_passed` keeps
// the previous rule's value). A rule without `match` always passes; a rule without
// `weighted_upstreams` sends everything to the route's upstream.
//
// Bad input: a `vars` condition that does not compile, an invalid inline upstream, an
// empty or over-long (> 20) weighted_upstreams or a negative weight is refused when
// written. At request time nothing can fail here.
//
// # Why a precomputed schedule
//
// The round robin runs on every request of every worker goroutine; a lock would be the
// one lock on the path. Each rule precomputes the sequence nginx's smooth weighted round
// robin yields for one cycle (total weight ÷ gcd picks) and an atomic counter walks it.
// A cycle longer than 4096 falls back to a stride through the cumulative weights that is
// coprime with the total: still exact per cycle, interleaved, lock-free.
package trafficsplit
