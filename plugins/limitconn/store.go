package limitconn

import "github.com/portico-gw/portico/plugins/internal/counters"

// store holds the in-flight counters of one config: requests in flight by key; an entry
// is deleted at zero.
type store = counters.Store[int64]

// registry maps "conf:<hash>" to live stores; the sweeper retires the empty ones.
var registry = counters.NewRegistry[int64](nil)

func newStore(id string) *store { return counters.NewStore[int64](id, "") }

func sweep() { registry.Sweep(counters.Mono()) }

// incoming is limit.conn's incoming(key, commit=true): it counts the request unless that
// would pass max, and returns the count including it. live is false when the store is
// dead: nothing was counted, fetch the live store.
func incoming(s *store, k counters.Key, max int64) (n int64, rejected, live bool) {
	sh, live := s.Lock(&k)
	if !live {
		return 0, false, false
	}
	defer sh.Unlock()
	n = sh.M[k] + 1
	if n > max {
		return n, true, true
	}
	sh.M[k] = n
	return n, false, true
}

// leaving uncounts a request counted by incoming.
func leaving(s *store, k counters.Key) {
	sh, live := s.Lock(&k)
	if !live {
		return // a store holding a count is never retired
	}
	if n := sh.M[k] - 1; n > 0 {
		sh.M[k] = n
	} else {
		delete(sh.M, k)
	}
	sh.Unlock()
}
