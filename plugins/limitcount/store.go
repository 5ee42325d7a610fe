package limitcount

import "github.com/portico-gw/portico/plugins/internal/counters"

// window is one fixed window: hits so far and when it ends (mono nanoseconds).
type window struct {
	used int64
	end  int64
}

// store holds the counters of one config (or one group); its conf is the hash of the
// config that created it, to warn about group mismatches.
type store = counters.Store[window]

// registry maps "conf:<hash>" and "group:<name>" to live stores; the sweeper drops the
// windows ended.
var registry = counters.NewRegistry(func(w window, now int64) bool { return now >= w.end })

func newStore(id, conf string) *store { return counters.NewStore[window](id, conf) }

func mono() int64 { return counters.Mono() }

func sweep(now int64) { registry.Sweep(now) }

// incoming counts cost hits on k's window at now and returns the hits in the window
// (including these), when the window ends and whether this hit started the window.
// live is false when the store is dead: nothing was counted, fetch the live store.
func incoming(s *store, k counters.Key, span, now, cost int64) (used, end int64, started, live bool) {
	sh, live := s.Lock(&k)
	if !live {
		return 0, 0, false, false
	}
	w, ok := sh.M[k]
	if !ok || now >= w.end {
		w = window{end: now + span}
		started = true
	}
	w.used += cost
	sh.M[k] = w
	sh.Unlock()
	return w.used, w.end, started, true
}
