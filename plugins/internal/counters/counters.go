package counters

import (
	"hash/maphash"
	"sync"
	"time"
)

const (
	nShards = 32
	// SweepEvery is how often a registry's sweeper runs.
	SweepEvery = 10 * time.Second
)

// epoch anchors Mono.
var epoch = time.Now()

// Mono is nanoseconds on the monotonic clock, immune to wall-clock jumps.
func Mono() int64 { return int64(time.Since(epoch)) }

// Key names one counter inside a store.
type Key struct{ Route, Consumer, Key string }

// Shard is a locked part of a store; M is only read or written between Lock and Unlock.
type Shard[V any] struct {
	mu sync.Mutex
	M  map[Key]V
}

// Unlock releases a shard returned by Store.Lock.
func (sh *Shard[V]) Unlock() { sh.mu.Unlock() }

// Store holds the counters of one config (or one group).
type Store[V any] struct {
	id     string
	conf   string
	seed   maphash.Seed
	shards [nShards]Shard[V]
	// dead is set by the sweeper with every shard lock held, once the store left the
	// registry; a request reads it under the one shard lock it holds.
	dead bool
}

// NewStore returns an empty store named id; conf is what the plugin wants to remember
// of the config that created it (limit-count: its hash, to warn about group mismatches).
func NewStore[V any](id, conf string) *Store[V] {
	s := &Store[V]{id: id, conf: conf, seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].M = make(map[Key]V)
	}
	return s
}

// Conf is the conf NewStore was given.
func (s *Store[V]) Conf() string { return s.conf }

// Lock locks k's shard and returns it. live is false, and nothing is locked, when the
// store is dead: fetch the live one from the registry.
func (s *Store[V]) Lock(k *Key) (sh *Shard[V], live bool) {
	h := maphash.String(s.seed, k.Key) ^ maphash.String(s.seed, k.Route)*31 ^ maphash.String(s.seed, k.Consumer)*131
	sh = &s.shards[h%nShards]
	sh.mu.Lock()
	if s.dead {
		sh.mu.Unlock()
		return nil, false
	}
	return sh, true
}

// Len counts the counters held (tests).
func (s *Store[V]) Len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += len(sh.M)
		sh.mu.Unlock()
	}
	return n
}

// Dead reports whether the sweeper retired s.
func (s *Store[V]) Dead() bool {
	sh := &s.shards[0]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return s.dead
}

// Registry maps store ids ("conf:<hash>", "group:<name>") to live stores.
type Registry[V any] struct {
	mu      sync.Mutex
	stores  map[string]*Store[V]
	once    sync.Once
	expired func(v V, now int64) bool
}

// NewRegistry returns an empty registry. expired tells the sweeper which counters to
// drop at now (mono nanoseconds); nil: none (the plugin deletes its own counters).
func NewRegistry[V any](expired func(v V, now int64) bool) *Registry[V] {
	return &Registry[V]{stores: map[string]*Store[V]{}, expired: expired}
}

// Acquire returns the live store for id, creating it (and the sweeper) when needed.
func (r *Registry[V]) Acquire(id, conf string) *Store[V] {
	r.once.Do(func() { go r.sweeper() })
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.stores[id]
	if !ok {
		s = NewStore[V](id, conf)
		r.stores[id] = s
	}
	return s
}

// Live returns the store registered under id, nil if none (tests).
func (r *Registry[V]) Live(id string) *Store[V] {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stores[id]
}

func (r *Registry[V]) sweeper() {
	t := time.NewTicker(SweepEvery)
	defer t.Stop()
	for range t.C {
		r.Sweep(Mono())
	}
}

// Sweep drops the counters expired at now and retires the stores left empty.
func (r *Registry[V]) Sweep(now int64) {
	r.mu.Lock()
	all := make([]*Store[V], 0, len(r.stores))
	for _, s := range r.stores {
		all = append(all, s)
	}
	r.mu.Unlock()
	for _, s := range all {
		left := 0
		for i := range s.shards {
			sh := &s.shards[i]
			sh.mu.Lock()
			if r.expired != nil {
				for k, v := range sh.M {
					if r.expired(v, now) {
						delete(sh.M, k)
					}
				}
			}
			left += len(sh.M)
			sh.mu.Unlock()
		}
		if left == 0 {
			r.retire(s)
		}
	}
}

// retire removes s from the registry if it is still empty, marking it dead.
func (r *Registry[V]) retire(s *Store[V]) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range s.shards {
		s.shards[i].mu.Lock()
	}
	empty := true
	for i := range s.shards {
		if len(s.shards[i].M) > 0 {
			empty = false
		}
	}
	if empty {
		s.dead = true
		if r.stores[s.id] == s {
			delete(r.stores, s.id)
		}
	}
	for i := range s.shards {
		s.shards[i].mu.Unlock()
	}
}
