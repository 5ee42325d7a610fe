package balancer

import (
	"sync"
	"time"
)

// leastConn picks the node with the least (active+1)/weight (APISIX least_conn.lua).
// Scores are compared as (a_i+1)*w_j < (a_j+1)*w_i, so there is no rounding. The scan
// starts one node further round the tier on every pick, so ties take turns.
type leastConn struct {
	tiers  tiers
	weight []int64
	mu     sync.Mutex
	active []int64 // guarded by mu
	next   uint    // guarded by mu; where the next scan starts
}

func newLeastConn(nodes []Node, t tiers) *leastConn {
	return &leastConn{tiers: t, weight: weights(nodes), active: make([]int64, len(nodes))}
}

func (b *leastConn) Pick(_ string, skip func(int) bool) (int, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.next++
	for _, tier := range b.tiers {
		best, j := -1, int(b.next%uint(len(tier)))
		for range tier {
			i := tier[j]
			if j++; j == len(tier) {
				j = 0
			}
			if skipped(skip, i) {
				continue
			}
			if best < 0 || (b.active[i]+1)*b.weight[best] < (b.active[best]+1)*b.weight[i] {
				best = i
			}
		}
		if best >= 0 {
			b.active[best]++
			return best, true
		}
	}
	return -1, false
}

// Done ends the attempt Pick counted as active.
func (b *leastConn) Done(i int, _ time.Duration, _ bool) {
	if !valid(i, len(b.active)) {
		return
	}
	b.mu.Lock()
	if b.active[i] > 0 {
		b.active[i]--
	}
	b.mu.Unlock()
}
