package limitreq

import (
	"hash/maphash"
	"math"
	"sync"
	"time"
)

const (
	nShards    = 32
	sweepEvery = 10 * time.Second
)

// epoch anchors mono: nanoseconds on the monotonic clock, immune to wall-clock jumps.
var epoch = time.Now()

func mono() int64 { return int64(time.Since(epoch)) }

// counterKey names one counter inside a store.
type counterKey struct{ route, consumer, key string }

// bucket is one leaky bucket as lua-resty-limit-traffic's limit.req keeps it: the excess
// in thousandths of a request, when it was last updated, and from when it is drained
// so far that it behaves as absent (mono nanoseconds).
type bucket struct {
	excess float64
	last   int64
	free   int64
}

type shard struct {
	mu sync.Mutex
	m  map[counterKey]bucket
}

// store holds the buckets of one config.
type store struct {
	id     string
	seed   maphash.Seed
	shards [nShards]shard
	// dead is set by the sweeper with every shard lock held, once the store left the
	// registry; a request reads it under the one shard lock it holds.
	dead bool
}

func newStore(id string) *store {
	s := &store{id: id, seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].m = make(map[counterKey]bucket)
	}
	return s
}

func (s *store) shard(k *counterKey) *shard {
	h := maphash.String(s.seed, k.key) ^ maphash.String(s.seed, k.route)*31 ^ maphash.String(s.seed, k.consumer)*131
	return &s.shards[h%nShards]
}

// incoming is limit.req's incoming(key, commit=true) at now for rate and burst (both
// in thousandths of a request; rate per second): it returns the bucket's excess after
// this request, or rejected when it would exceed burst (the bucket is then unchanged).
// live is false when the store is dead: nothing was counted, fetch the live store.
func (s *store) incoming(k counterKey, rate, burst float64, now int64) (excess float64, rejected, live bool) {
	sh := s.shard(&k)
	sh.mu.Lock()
	if s.dead {
		sh.mu.Unlock()
		return 0, false, false
	}
	if b, ok := sh.m[k]; ok {
		elapsed := math.Abs(float64(now-b.last)) / 1e6 // milliseconds
		excess = math.Max(b.excess-rate*elapsed/1000+1000, 0)
		if excess > burst {
			sh.mu.Unlock()
			return excess, true, true
		}
	}
	// drained once rate*elapsed >= excess+1000: the next request sees excess 0
	free := now + int64((excess+1000)/rate*1e9)
	sh.m[k] = bucket{excess: excess, last: now, free: free}
	sh.mu.Unlock()
	return excess, false, true
}

// registry maps "conf:<hash>" to live stores.
var registry = struct {
	mu     sync.Mutex
	stores map[string]*store
	once   sync.Once
}{stores: map[string]*store{}}

// acquire returns the live store for id, creating it (and the sweeper) when needed.
func acquire(id string) *store {
	registry.once.Do(func() { go sweeper() })
	registry.mu.Lock()
	defer registry.mu.Unlock()
	s, ok := registry.stores[id]
	if !ok {
		s = newStore(id)
		registry.stores[id] = s
	}
	return s
}

func sweeper() {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for range t.C {
		sweep(mono())
	}
}

// sweep drops the buckets drained at now and retires the stores left empty.
func sweep(now int64) {
	registry.mu.Lock()
	all := make([]*store, 0, len(registry.stores))
	for _, s := range registry.stores {
		all = append(all, s)
	}
	registry.mu.Unlock()
	for _, s := range all {
		left := 0
		for i := range s.shards {
			sh := &s.shards[i]
			sh.mu.Lock()
			for k, b := range sh.m {
				if now >= b.free {
					delete(sh.m, k)
				}
			}
			left += len(sh.m)
			sh.mu.Unlock()
		}
		if left == 0 {
			retire(s)
		}
	}
}

// retire removes s from the registry if it is still empty, marking it dead.
func retire(s *store) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	for i := range s.shards {
		s.shards[i].mu.Lock()
	}
	empty := true
	for i := range s.shards {
		if len(s.shards[i].m) > 0 {
			empty = false
		}
	}
	if empty {
		s.dead = true
		if registry.stores[s.id] == s {
			delete(registry.stores, s.id)
		}
	}
	for i := range s.shards {
		s.shards[i].mu.Unlock()
	}
}
