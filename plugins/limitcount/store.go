package limitcount

import (
	"hash/maphash"
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

// window is one fixed window: hits so far and when it ends (mono nanoseconds).
type window struct {
	used int64
	end  int64
}

type shard struct {
	mu sync.Mutex
	m  map[counterKey]window
}

// store holds the counters of one config (or one group).
type store struct {
	id     string
	conf   string // hash of the config that created it, to warn about group mismatches
	seed   maphash.Seed
	shards [nShards]shard
	// dead is set by the sweeper with every shard lock held, once the store left the
	// registry; a request reads it under the one shard lock it holds.
	dead bool
}

func newStore(id, conf string) *store {
	s := &store{id: id, conf: conf, seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].m = make(map[counterKey]window)
	}
	return s
}

func (s *store) shard(k *counterKey) *shard {
	h := maphash.String(s.seed, k.key) ^ maphash.String(s.seed, k.route)*31 ^ maphash.String(s.seed, k.consumer)*131
	return &s.shards[h%nShards]
}

// incoming counts cost hits on k's window at now and returns the hits in the window
// (including these), when the window ends and whether this hit started the window.
// live is false when the store is dead: nothing was counted, fetch the live store.
func (s *store) incoming(k counterKey, span, now, cost int64) (used, end int64, started, live bool) {
	sh := s.shard(&k)
	sh.mu.Lock()
	if s.dead {
		sh.mu.Unlock()
		return 0, 0, false, false
	}
	w, ok := sh.m[k]
	if !ok || now >= w.end {
		w = window{end: now + span}
		started = true
	}
	w.used += cost
	sh.m[k] = w
	sh.mu.Unlock()
	return w.used, w.end, started, true
}

// registry maps "conf:<hash>" and "group:<name>" to live stores.
var registry = struct {
	mu     sync.Mutex
	stores map[string]*store
	once   sync.Once
}{stores: map[string]*store{}}

// acquire returns the live store for id, creating it (and the sweeper) when needed.
func acquire(id, conf string) *store {
	registry.once.Do(func() { go sweeper() })
	registry.mu.Lock()
	defer registry.mu.Unlock()
	s, ok := registry.stores[id]
	if !ok {
		s = newStore(id, conf)
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

// sweep drops the windows ended at now and retires the stores left empty.
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
			for k, w := range sh.m {
				if now >= w.end {
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
