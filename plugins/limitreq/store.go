package limitreq

import (
	"math"

	"github.com/portico-gw/portico/plugins/internal/counters"
)

// bucket is one leaky bucket as lua-resty-limit-traffic's limit.req keeps it: the excess
// in thousandths of a request, when it was last updated, and from when it is drained
// so far that it behaves as absent (mono nanoseconds).
type bucket struct {
	excess float64
	last   int64
	free   int64
}

// store holds the buckets of one config.
type store = counters.Store[bucket]

// registry maps "conf:<hash>" to live stores; the sweeper drops the buckets drained.
var registry = counters.NewRegistry(func(b bucket, now int64) bool { return now >= b.free })

func newStore(id string) *store { return counters.NewStore[bucket](id, "") }

func mono() int64 { return counters.Mono() }

func sweep(now int64) { registry.Sweep(now) }

// incoming is limit.req's incoming(key, commit=true) at now for rate and burst (both
// in thousandths of a request; rate per second): it returns the bucket's excess after
// this request, or rejected when it would exceed burst (the bucket is then unchanged).
// live is false when the store is dead: nothing was counted, fetch the live store.
func incoming(s *store, k counters.Key, rate, burst float64, now int64) (excess float64, rejected, live bool) {
	sh, live := s.Lock(&k)
	if !live {
		return 0, false, false
	}
	if b, ok := sh.M[k]; ok {
		elapsed := math.Abs(float64(now-b.last)) / 1e6 // milliseconds
		excess = math.Max(b.excess-rate*elapsed/1000+1000, 0)
		if excess > burst {
			sh.Unlock()
			return excess, true, true
		}
	}
	// drained once rate*elapsed >= excess+1000: the next request sees excess 0
	free := now + int64((excess+1000)/rate*1e9)
	sh.M[k] = bucket{excess: excess, last: now, free: free}
	sh.Unlock()
	return excess, false, true
}
