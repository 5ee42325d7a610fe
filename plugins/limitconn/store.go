package limitconn

import (
	"hash/maphash"
	"sync"
	"time"
)

const (
	nShards    = 32
	sweepEvery = 10 * time.Second
)

// counterKey names one counter inside a store.
type counterKey struct{ route, consumer, key string }

type shard struct {
	mu sync.Mutex
	m  map[counterKey]int64 // requests in flight; an entry is deleted at zero
}

// store holds the in-flight counters of one config.
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
		s.shards[i].m = make(map[counterKey]int64)
	}
	return s
}

func (s *store) shard(k *counterKey) *shard {
	h := maphash.String(s.seed, k.key) ^ maphash.String(s.seed, k.route)*31 ^ maphash.String(s.seed, k.consumer)*131
	return &s.shards[h%nShards]
}

// incoming is limit.conn's incoming(key, commit=true): it counts the request unless that
// would pass max, and returns the count including it. live is false when the store is
// dead: nothing was counted, fetch the live store.
func (s *store) incoming(k counterKey, max int64) (n int64, rejected, live bool) {
	sh := s.shard(&k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if s.dead {
		return 0, false, false
	}
	n = sh.m[k] + 1
	if n > max {
		return n, true, true
	}
	sh.m[k] = n
	return n, false, true
}

// leaving uncounts a request counted by incoming.
func (s *store) leaving(k counterKey) {
	sh := s.shard(&k)
	sh.mu.Lock()
	if n := sh.m[k] - 1; n > 0 {
		sh.m[k] = n
	} else {
		delete(sh.m, k)
	}
	sh.mu.Unlock()
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
		sweep()
	}
}

// sweep retires the stores with nothing in flight.
func sweep() {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	for id, s := range registry.stores {
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
			delete(registry.stores, id)
		}
		for i := range s.shards {
			s.shards[i].mu.Unlock()
		}
	}
}
