// Package balancer owns the load balancers that choose one node of an upstream for each
// attempt of a request: APISIX's roundrobin, chash, least_conn and ewma, with node priority
// tiers. A Balancer is built once per snapshot from the upstream's nodes; nothing is parsed
// or allocated when a request picks.
//
// It must not know about health checks, retries or the request: the proxy tells Pick which
// nodes to avoid with skip (tried in this request, or unhealthy) and reports the end of each
// attempt with Done. "All nodes unhealthy → use them all" (APISIX logs "all upstream nodes is
// unhealthy, use default") is the proxy's second call to Pick with skip covering only the
// tried nodes. It must not import other Portico packages.
//
// # Indices
//
// Pick returns an index into the nodes slice given to New, and Done takes the same index, so
// the proxy can keep per-node data (addresses, health checker slots) in slices of its own.
//
// # Weight 0 and priority
//
// A node whose weight is 0 is never picked, not even when every other node is skipped; New
// fails with ErrNoNodes when no node has a weight above 0 (the proxy answers 503, as APISIX
// does for an empty node list). A negative weight is refused.
//
// Nodes are grouped by Priority; the highest tier is used first and a lower one only when
// skip excludes every node of all higher tiers (APISIX's priority balancer, where backup
// nodes carry a negative priority). Each tier balances on its own.
//
// # Algorithms
//
//   - roundrobin: nginx's smooth weighted round robin over the nodes skip leaves, so weights
//     5:1:1 give a a b a c a a. The state is a current weight per node.
//   - chash: a consistent-hash ring per tier with 160 points per unit of weight (as nginx
//     and lua-resty-chash); a node's points depend only on its address, so removing a node
//     moves only the keys it owned. A skipped owner passes the key on clockwise to the next
//     point whose node is not skipped. A tier whose ring would exceed 1<<18 points is scaled
//     down (each node keeps at least one point); then stability is only approximate. An
//     empty key is a key like any other: the proxy falls back to remote_addr, as APISIX.
//     The hash (FNV-1a, splitmix64 finaliser) differs from APISIX's crc32, so a key lands
//     on a different node than under APISIX; only stability is promised.
//   - least_conn: the node with the least (active+1)/weight, compared exactly in integers;
//     Pick counts the attempt as active and Done ends it, so every successful Pick must be
//     matched by one Done. Ties go round the tier.
//   - ewma: the node with the least latency EWMA, decayed with time as APISIX's ewma.lua
//     (decay time 10 s: an idle node's score falls back towards 0, so it is tried again,
//     and a node never measured scores 0). APISIX compares two random nodes; Portico scans
//     the tier, so the choice is deterministic. Weight is ignored beyond weight 0, as in
//     APISIX. A failed attempt counts as at least 1 s (APISIX does not record failures at
//     all), so a node that refuses connections quickly does not look fast.
//
// # Concurrency
//
// Every Balancer is safe for concurrent use. chash is immutable after New and takes no
// lock. roundrobin, least_conn and ewma hold one mutex for the scan of a tier (O(nodes));
// their state must change together, and a scan of a handful of nodes under an uncontended
// mutex is cheaper than retrying atomics. skip is called with that mutex held, so it must
// not call back into the Balancer. Pick does not allocate.
package balancer
