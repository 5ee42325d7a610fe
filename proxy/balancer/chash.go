package balancer

import (
	"cmp"
	"slices"
	"time"
)

const (
	// chashPoints is the points a node gets per unit of weight (nginx, lua-resty-chash).
	chashPoints = 160
	// chashMaxPoints bounds one tier's ring (1<<18 points is 2 MiB).
	chashMaxPoints = 1 << 18
)

// cHash is a consistent-hash ring per tier. It is immutable after newCHash.
type cHash struct {
	rings []ring
}

// ring is one tier's ring: points sorted, owners[k] the node index of points[k].
type ring struct {
	points []uint32
	owners []int32
	nodes  []int
}

func newCHash(nodes []Node, t tiers) *cHash {
	b := &cHash{rings: make([]ring, len(t))}
	for k, tier := range t {
		b.rings[k] = newRing(nodes, tier)
	}
	return b
}

func newRing(nodes []Node, tier []int) ring {
	total := 0
	for _, i := range tier {
		total += chashPoints * nodes[i].Weight
	}
	scale := 1.0
	if total > chashMaxPoints {
		scale = float64(chashMaxPoints) / float64(total)
	}
	type point struct {
		p uint32
		o int32
	}
	var pts []point
	for _, i := range tier {
		n := max(int(float64(chashPoints*nodes[i].Weight)*scale), 1)
		// a node's points depend on its address alone, so other nodes coming and going
		// leave them where they are
		base := hashString(addrOf(nodes[i]))
		for v := range n {
			pts = append(pts, point{pointHash(base, uint64(v)), int32(i)})
		}
	}
	slices.SortFunc(pts, func(a, b point) int {
		return cmp.Or(cmp.Compare(a.p, b.p), cmp.Compare(a.o, b.o))
	})
	r := ring{points: make([]uint32, len(pts)), owners: make([]int32, len(pts)), nodes: tier}
	for k, p := range pts {
		r.points[k], r.owners[k] = p.p, p.o
	}
	return r
}

func (b *cHash) Pick(key string, skip func(int) bool) (int, bool) {
	h := keyHash(key)
	for k := range b.rings {
		if i, ok := b.rings[k].pick(h, skip); ok {
			return i, true
		}
	}
	return -1, false
}

func (b *cHash) Done(int, time.Duration, bool) {}

// pick returns the owner of the first point at or after h, going on clockwise past
// skipped nodes.
func (r *ring) pick(h uint32, skip func(int) bool) (int, bool) {
	pos, _ := slices.BinarySearch(r.points, h)
	if pos == len(r.points) {
		pos = 0
	}
	if o := int(r.owners[pos]); !skipped(skip, o) {
		return o, true
	}
	// walk only when some node of the tier is left, so the walk ends quickly
	left := false
	for _, i := range r.nodes {
		if !skipped(skip, i) {
			left = true
			break
		}
	}
	if !left {
		return -1, false
	}
	for k := 1; k < len(r.points); k++ {
		if o := int(r.owners[(pos+k)%len(r.points)]); !skipped(skip, o) {
			return o, true
		}
	}
	return -1, false
}

// hashString is 64-bit FNV-1a.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// mix64 is splitmix64's finaliser: it spreads FNV's weak high bits over the whole word.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// pointHash is the v-th point of a node whose address hashes to base.
func pointHash(base, v uint64) uint32 {
	return uint32(mix64(base+(v+1)*0x9e3779b97f4a7c15) >> 32)
}

// keyHash places a request's key on the ring.
func keyHash(key string) uint32 {
	return uint32(mix64(hashString(key)) >> 32)
}
