package balancer

import (
	"math"
	"slices"
	"sync"
	"time"
)

const (
	// ewmaDecay is APISIX's DECAY_TIME: a sample's weight halves every 10 s·ln 2.
	ewmaDecay = float64(10 * time.Second)
	// ewmaFailure is the least latency a failed attempt counts as.
	ewmaFailure = time.Second
)

// ewmaBalancer picks the node with the least latency EWMA (APISIX balancer/ewma.lua).
// A score decays towards 0 with the time since the node was last measured:
// score = ewma·e^(−(now−t)/D); a new sample s gives ewma = ewma·w + s·(1−w) with the same
// weight w = e^(−(now−t)/D).
//
// Pick compares ln(score) + now/D = ln(ewma) + t/D, which does not change between two
// samples, so Done computes it once (rank) and Pick calls no exp.
type ewmaBalancer struct {
	tiers   tiers
	base    time.Time // touched is measured from base on the monotonic clock
	mu      sync.Mutex
	ewma    []float64 // guarded by mu; nanoseconds
	touched []int64   // guarded by mu; nanoseconds since base, 0: never measured
	rank    []float64 // guarded by mu; ln(ewma)+touched/D, −Inf when never measured
	next    uint      // guarded by mu; where the next scan starts
}

func newEWMA(nodes []Node, t tiers) *ewmaBalancer {
	return &ewmaBalancer{
		tiers:   t,
		base:    time.Now(),
		ewma:    make([]float64, len(nodes)),
		touched: make([]int64, len(nodes)),
		rank:    slices.Repeat([]float64{math.Inf(-1)}, len(nodes)),
	}
}

// now is the time since base, never 0, so 0 can mean "never measured".
func (b *ewmaBalancer) now() int64 {
	return int64(time.Since(b.base)) + 1
}

// decay is the weight the old EWMA keeps at now; a node never measured keeps none.
func (b *ewmaBalancer) decay(i int, now int64) float64 {
	if b.touched[i] == 0 {
		return 0
	}
	return math.Exp(-float64(max(now-b.touched[i], 0)) / ewmaDecay)
}

func (b *ewmaBalancer) Pick(_ string, skip func(int) bool) (int, bool) {
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
			if best < 0 || b.rank[i] < b.rank[best] {
				best = i
			}
		}
		if best >= 0 {
			return best, true
		}
	}
	return -1, false
}

// Done records the attempt's latency; a failure counts as at least ewmaFailure.
func (b *ewmaBalancer) Done(i int, latency time.Duration, failed bool) {
	if !valid(i, len(b.ewma)) {
		return
	}
	if failed {
		latency = max(latency, ewmaFailure)
	}
	latency = max(latency, 0)
	now := b.now()
	b.mu.Lock()
	w := b.decay(i, now)
	b.ewma[i] = b.ewma[i]*w + float64(latency)*(1-w)
	b.touched[i] = now
	b.rank[i] = math.Log(b.ewma[i]) + float64(now)/ewmaDecay
	b.mu.Unlock()
}
