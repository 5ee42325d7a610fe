package counters

import "testing"

func TestSweepRetiresEmptyStores(t *testing.T) {
	r := NewRegistry(func(v int64, now int64) bool { return now >= v })
	s := r.Acquire("conf:a", "h")
	if got := r.Acquire("conf:a", "other"); got != s || got.Conf() != "h" {
		t.Fatal("second Acquire did not return the first store")
	}
	k := Key{Route: "1", Key: "x"}
	sh, live := s.Lock(&k)
	if !live {
		t.Fatal("new store is dead")
	}
	sh.M[k] = 10 // expires at 10
	sh.Unlock()
	r.Sweep(5)
	if s.Dead() || s.Len() != 1 {
		t.Fatalf("before expiry: dead=%v len=%d, want live with 1", s.Dead(), s.Len())
	}
	r.Sweep(10)
	if !s.Dead() || r.Live("conf:a") != nil {
		t.Fatalf("after expiry: dead=%v registered=%v, want retired", s.Dead(), r.Live("conf:a") != nil)
	}
	if _, live := s.Lock(&k); live {
		t.Fatal("Lock on a dead store reported live")
	}
	if r.Acquire("conf:a", "") == s {
		t.Fatal("Acquire returned the dead store")
	}
}

func TestSweepWithoutExpiry(t *testing.T) {
	r := NewRegistry[int64](nil)
	s := r.Acquire("conf:b", "")
	k := Key{Key: "x"}
	sh, _ := s.Lock(&k)
	sh.M[k] = 1
	sh.Unlock()
	r.Sweep(1 << 62)
	if s.Dead() {
		t.Fatal("store with a counter retired")
	}
	sh, _ = s.Lock(&k)
	delete(sh.M, k)
	sh.Unlock()
	r.Sweep(0)
	if !s.Dead() {
		t.Fatal("empty store kept")
	}
}
