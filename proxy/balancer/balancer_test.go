package balancer

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

var types = []string{RoundRobin, CHash, LeastConn, EWMA}

// named builds nodes a, b, c, … with the given weights, all priority 0.
func named(weights ...int) []Node {
	nodes := make([]Node, len(weights))
	for i, w := range weights {
		nodes[i] = Node{Host: "127.0.0.1", Port: 8000 + i, Weight: w, Addr: fmt.Sprintf("127.0.0.1:%d", 8000+i)}
	}
	return nodes
}

func mustNew(t testing.TB, typ string, nodes []Node) Balancer {
	t.Helper()
	b, err := New(typ, nodes)
	if err != nil {
		t.Fatalf("New(%q): %v", typ, err)
	}
	return b
}

// skipSet skips the listed indices.
func skipSet(idx ...int) func(int) bool {
	return func(i int) bool {
		for _, j := range idx {
			if i == j {
				return true
			}
		}
		return false
	}
}

// letters renders picks as a, b, c, …; "-" for no pick.
func letters(b Balancer, n int, skip func(int) bool) string {
	var s []string
	for range n {
		i, ok := b.Pick("", skip)
		if !ok {
			s = append(s, "-")
			continue
		}
		s = append(s, string(rune('a'+i)))
		b.Done(i, time.Millisecond, false)
	}
	return strings.Join(s, ",")
}

func TestRoundRobinSequence(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		skip    func(int) bool
		n       int
		want    string
	}{
		{"nginx 5:1:1", []int{5, 1, 1}, nil, 14, "a,a,b,a,c,a,a,a,a,b,a,c,a,a"},
		{"5:1 exact over 6", []int{5, 1}, nil, 6, "a,a,a,b,a,a"},
		{"equal", []int{1, 1, 1}, nil, 6, "a,b,c,a,b,c"},
		{"weight 0 never", []int{1, 0, 1}, nil, 4, "a,c,a,c"},
		{"skip the heavy one", []int{5, 1, 1}, skipSet(0), 4, "b,c,b,c"},
		{"skip all", []int{5, 1, 1}, skipSet(0, 1, 2), 2, "-,-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustNew(t, "", named(tt.weights...))
			if got := letters(b, tt.n, tt.skip); got != tt.want {
				t.Errorf("picks = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestPriorityTiers(t *testing.T) {
	// a, b: priority 1; c: priority 0; d: priority -1 (backup); e: weight 0, priority 2
	nodes := named(1, 1, 1, 1, 0)
	nodes[0].Priority, nodes[1].Priority, nodes[3].Priority, nodes[4].Priority = 1, 1, -1, 2
	tests := []struct {
		name string
		skip func(int) bool
		want string // the set of nodes picked over 20 picks
	}{
		{"top tier only", nil, "ab"},
		{"one of the top tier skipped", skipSet(0), "b"},
		{"top tier skipped", skipSet(0, 1), "c"},
		{"down to the backup", skipSet(0, 1, 2), "d"},
		{"all skipped", skipSet(0, 1, 2, 3), "-"},
	}
	for _, typ := range types {
		for _, tt := range tests {
			t.Run(typ+"/"+tt.name, func(t *testing.T) {
				b := mustNew(t, typ, nodes)
				seen := map[rune]bool{}
				for k := range 20 {
					i, ok := b.Pick(fmt.Sprintf("key-%d", k), tt.skip)
					if !ok {
						seen['-'] = true
						continue
					}
					seen[rune('a'+i)] = true
					b.Done(i, time.Millisecond, false)
				}
				var got []rune
				for _, r := range "-abcde" {
					if seen[r] {
						got = append(got, r)
					}
				}
				if typ != CHash && string(got) != tt.want {
					t.Errorf("picked %q, want %q", string(got), tt.want)
				}
				// chash sends a key to one node, so it need not use both; it must stay in the set
				if typ == CHash && (len(got) == 0 || strings.Trim(string(got), tt.want) != "") {
					t.Errorf("picked %q, want a subset of %q", string(got), tt.want)
				}
			})
		}
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name  string
		typ   string
		nodes []Node
		want  error // nil: succeeds; errNeg: any error
	}{
		{"default type", "", named(1), nil},
		{"every type", EWMA, named(1, 2), nil},
		{"unknown type", "random", named(1), ErrUnknownType},
		{"no nodes", RoundRobin, nil, ErrNoNodes},
		{"only weight 0", CHash, named(0, 0), ErrNoNodes},
		{"negative weight", LeastConn, named(1, -1), errNeg},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.typ, tt.nodes)
			switch {
			case tt.want == nil && err != nil:
				t.Errorf("New: %v, want no error", err)
			case tt.want == errNeg && (err == nil || !strings.Contains(err.Error(), "below 0")):
				t.Errorf("New: %v, want a negative-weight error", err)
			case tt.want != nil && tt.want != errNeg && !errors.Is(err, tt.want):
				t.Errorf("New: %v, want %v", err, tt.want)
			}
		})
	}
}

var errNeg = errors.New("negative weight")

func TestCHashStable(t *testing.T) {
	nodes := named(1, 1, 1, 1, 1)
	b := mustNew(t, CHash, nodes)
	again := mustNew(t, CHash, nodes)
	without := mustNew(t, CHash, append(append([]Node{}, nodes[:2]...), nodes[3:]...)) // drop c
	const keys = 10000
	count := make([]int, len(nodes))
	moved := 0
	for k := range keys {
		key := fmt.Sprintf("198.51.100.%d/%d", k%256, k)
		i, _ := b.Pick(key, nil)
		count[i]++
		if j, _ := b.Pick(key, nil); j != i {
			t.Fatalf("key %q: picked %d then %d", key, i, j)
		}
		if j, _ := again.Pick(key, nil); j != i {
			t.Fatalf("key %q: picked %d by one build, %d by another", key, i, j)
		}
		j, _ := without.Pick(key, nil)
		addr := without.(*cHash).addr(nodes, j)
		switch {
		case i != 2 && addr != nodes[i].Addr:
			t.Fatalf("key %q moved from %s to %s though its node stayed", key, nodes[i].Addr, addr)
		case i == 2:
			moved++
		}
		// skipping the owner moves the key, the same way every time
		s1, _ := b.Pick(key, skipSet(i))
		s2, _ := b.Pick(key, skipSet(i))
		if s1 == i || s1 != s2 {
			t.Fatalf("key %q with its node %d skipped: picked %d then %d", key, i, s1, s2)
		}
	}
	for i, c := range count {
		if c < keys/10 || c > keys*3/10 {
			t.Errorf("node %d got %d of %d keys, want about a fifth", i, c, keys)
		}
	}
	if moved != count[2] {
		t.Errorf("%d keys moved, want %d (those of the node removed)", moved, count[2])
	}
}

// addr maps an index of the ring built without c back to an address of the full list.
func (b *cHash) addr(full []Node, j int) string {
	if j >= 2 {
		j++
	}
	return full[j].Addr
}

func TestCHashWeights(t *testing.T) {
	b := mustNew(t, CHash, named(3, 1))
	count := make([]int, 2)
	for k := range 8000 {
		i, _ := b.Pick(fmt.Sprintf("user-%d", k), nil)
		count[i]++
	}
	if r := float64(count[0]) / float64(count[1]); r < 2.4 || r > 3.6 {
		t.Errorf("weights 3:1 gave %d:%d keys", count[0], count[1])
	}
}

func TestLeastConn(t *testing.T) {
	b := mustNew(t, LeastConn, named(1, 1, 1))
	var got []int
	for range 3 { // nobody finishes: each pick goes to an idle node
		i, _ := b.Pick("", nil)
		got = append(got, i)
	}
	if got[0] == got[1] || got[1] == got[2] || got[0] == got[2] {
		t.Fatalf("three picks with nothing done went to %v, want three nodes", got)
	}
	b.Done(got[1], time.Millisecond, false)
	if i, _ := b.Pick("", nil); i != got[1] {
		t.Errorf("after %d finished, picked %d, want the idle %d", got[1], i, got[1])
	}

	// weights: (active+1)/weight; a (weight 3) takes three while b (weight 1) takes one
	w := mustNew(t, LeastConn, named(3, 1))
	count := make([]int, 2)
	for range 8 {
		i, _ := w.Pick("", nil)
		count[i]++
	}
	if count[0] != 6 || count[1] != 2 {
		t.Errorf("weights 3:1, nothing done: %v, want [6 2]", count)
	}
}

func TestEWMA(t *testing.T) {
	b := mustNew(t, EWMA, named(1, 1, 1, 1))
	b.Done(0, 100*time.Millisecond, false)
	b.Done(1, time.Millisecond, false)
	b.Done(2, 50*time.Millisecond, false)
	// d was never measured: it scores 0 and is tried first
	if i, _ := b.Pick("", nil); i != 3 {
		t.Errorf("picked %d, want the unmeasured 3", i)
	}
	b.Done(3, 200*time.Millisecond, false)
	for range 5 {
		if i, _ := b.Pick("", nil); i != 1 {
			t.Fatalf("picked %d, want the fast 1", i)
		}
	}
	if i, _ := b.Pick("", skipSet(1)); i != 2 {
		t.Errorf("fast one skipped: picked %d, want the next fastest 2", i)
	}

	// a failure counts as slow, however quickly it failed
	f := mustNew(t, EWMA, named(1, 1))
	f.Done(0, time.Microsecond, true)
	f.Done(1, 300*time.Millisecond, false)
	if i, _ := f.Pick("", nil); i != 1 {
		t.Errorf("picked %d, want 1 over the node that failed", i)
	}
}

func TestDoneOutOfRange(t *testing.T) {
	for _, typ := range types {
		b := mustNew(t, typ, named(1))
		b.Done(-1, time.Second, true) // must not panic
		b.Done(5, time.Second, false)
	}
}

func TestPickNoAlloc(t *testing.T) {
	skip := skipSet(0)
	for _, typ := range types {
		t.Run(typ, func(t *testing.T) {
			b := mustNew(t, typ, named(5, 1, 1, 3))
			allocs := testing.AllocsPerRun(1000, func() {
				i, ok := b.Pick("198.51.100.7", skip)
				if ok {
					b.Done(i, time.Millisecond, false)
				}
			})
			if allocs != 0 {
				t.Errorf("Pick+Done allocate %v times", allocs)
			}
		})
	}
}

func TestPick_hammer(t *testing.T) {
	for _, typ := range types {
		t.Run(typ, func(t *testing.T) {
			nodes := named(5, 1, 1, 3)
			nodes[3].Priority = -1
			b := mustNew(t, typ, nodes)
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Go(func() {
					for k := range 2000 {
						skip := skipSet(k % 3)
						i, ok := b.Pick(fmt.Sprint(g, k), skip)
						if !ok || skip(i) || i == 3 { // 3 is a backup: a tier of three is never all skipped
							t.Errorf("Pick = %d, %v", i, ok)
							return
						}
						b.Done(i, time.Duration(k)*time.Microsecond, k%7 == 0)
					}
				})
			}
			wg.Wait()
			if lc, ok := b.(*leastConn); ok {
				for i, a := range lc.active {
					if a != 0 {
						t.Errorf("node %d: %d still active after every Done", i, a)
					}
				}
			}
		})
	}
}

// benchPick measures one attempt, Pick and Done, over ten nodes of mixed weights.
func benchPick(b *testing.B, typ string) {
	nodes := named(5, 1, 1, 3, 2, 2, 1, 1, 4, 1)
	bal := mustNew(b, typ, nodes)
	tried := make([]bool, len(nodes))
	skip := func(i int) bool { return tried[i] }
	b.ReportAllocs()
	for b.Loop() {
		i, _ := bal.Pick("198.51.100.7/index.html", skip)
		bal.Done(i, time.Millisecond, false)
	}
}

func BenchmarkPickRoundRobin(b *testing.B) { benchPick(b, RoundRobin) }
func BenchmarkPickCHash(b *testing.B)      { benchPick(b, CHash) }
func BenchmarkPickLeastConn(b *testing.B)  { benchPick(b, LeastConn) }
func BenchmarkPickEWMA(b *testing.B)       { benchPick(b, EWMA) }

func BenchmarkPickParallel(b *testing.B) {
	for _, typ := range types {
		b.Run(typ, func(b *testing.B) {
			bal := mustNew(b, typ, named(5, 1, 1, 3, 2, 2, 1, 1, 4, 1))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i, _ := bal.Pick("198.51.100.7/index.html", nil)
					bal.Done(i, time.Millisecond, false)
				}
			})
		})
	}
}
