package balancer

import (
	"sync"
	"time"
)

// roundRobin is nginx's smooth weighted round robin
// (ngx_http_upstream_get_peer): each pick adds every eligible node's weight to its current
// weight, takes the node with the highest current weight (the first one on a tie) and
// takes the total of the eligible weights off it.
type roundRobin struct {
	tiers   tiers
	weight  []int64
	mu      sync.Mutex
	current []int64 // guarded by mu
}

func newRoundRobin(nodes []Node, t tiers) *roundRobin {
	return &roundRobin{tiers: t, weight: weights(nodes), current: make([]int64, len(nodes))}
}

func (b *roundRobin) Pick(_ string, skip func(int) bool) (int, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, tier := range b.tiers {
		best, total := -1, int64(0)
		for _, i := range tier {
			if skipped(skip, i) {
				continue
			}
			b.current[i] += b.weight[i]
			total += b.weight[i]
			if best < 0 || b.current[i] > b.current[best] {
				best = i
			}
		}
		if best >= 0 {
			b.current[best] -= total
			return best, true
		}
	}
	return -1, false
}

func (b *roundRobin) Done(int, time.Duration, bool) {}
