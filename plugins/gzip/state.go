package gzip

import (
	"hash/maphash"
	"sync"

	"github.com/portico-gw/portico/plugins"
)

// states maps a request's Ctx to this plugin's state for that request. It is sharded so
// that concurrent requests rarely share a lock, and a lock is held only for one map
// operation, never across I/O.
type states[T any] struct {
	seed   maphash.Seed
	shards [32]stateShard[T]
}

type stateShard[T any] struct {
	mu sync.Mutex
	m  map[*plugins.Ctx]*T
	_  [40]byte // keep shards on separate cache lines
}

func newStates[T any]() *states[T] {
	s := &states[T]{seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].m = make(map[*plugins.Ctx]*T)
	}
	return s
}

func (s *states[T]) shard(c *plugins.Ctx) *stateShard[T] {
	return &s.shards[maphash.Comparable(s.seed, c)%uint64(len(s.shards))]
}

// put stores st for c, replacing whatever a previous request left on a pooled Ctx.
func (s *states[T]) put(c *plugins.Ctx, st *T) {
	sh := s.shard(c)
	sh.mu.Lock()
	sh.m[c] = st
	sh.mu.Unlock()
}

// get returns c's state, nil when there is none.
func (s *states[T]) get(c *plugins.Ctx) *T {
	sh := s.shard(c)
	sh.mu.Lock()
	st := sh.m[c]
	sh.mu.Unlock()
	return st
}

// take returns c's state and forgets it; nil when there is none.
func (s *states[T]) take(c *plugins.Ctx) *T {
	sh := s.shard(c)
	sh.mu.Lock()
	st, ok := sh.m[c]
	if ok {
		delete(sh.m, c)
	}
	sh.mu.Unlock()
	return st
}

// drop forgets c's state.
func (s *states[T]) drop(c *plugins.Ctx) {
	sh := s.shard(c)
	sh.mu.Lock()
	delete(sh.m, c)
	sh.mu.Unlock()
}

// len counts the states held (tests).
func (s *states[T]) len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}
