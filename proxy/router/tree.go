package router

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
)

// entry is one (route, URI[, host]) insertion: everything a candidate check needs,
// stored by value next to its siblings.
type entry struct {
	route   *Route
	pat     string  // the URI pattern as configured, for Params.Pattern
	host    string  // the host pattern of the group, for Params.Host; "" if host-less
	toks    []token // nil: no captures, the key decides
	methods uint16  // 0: any
	addrs   []netip.Prefix
	match   func(any) bool
	prio    int
	seq     int // insertion order: route order, then URI order
}

// table is one URI router (APISIX's per-host sub-router, or the host-less one): exact
// paths in a map, prefixes in a compressed byte trie.
type table struct {
	exact map[string][]entry
	root  node
}

// node is a radix-tree node; label is the edge from its parent. entries are the routes
// whose key ends exactly here, in candidate order.
type node struct {
	label    string
	indices  string // first byte of each child's label, parallel to children
	children []*node
	entries  []entry
}

func newTable() *table { return &table{exact: make(map[string][]entry)} }

func (t *table) add(pt *pattern, e entry) {
	if pt.exact {
		t.exact[pt.key] = append(t.exact[pt.key], e)
		return
	}
	t.root.add(pt.key, e)
}

// add inserts e under key, key being relative to n.
func (n *node) add(key string, e entry) {
	for key != "" {
		i := strings.IndexByte(n.indices, key[0])
		if i < 0 {
			n.indices += key[:1]
			n.children = append(n.children, &node{label: key, entries: []entry{e}})
			return
		}
		c := n.children[i]
		l := commonPrefix(key, c.label)
		if l < len(c.label) { // split c at l
			tail := &node{label: c.label[l:], indices: c.indices, children: c.children, entries: c.entries}
			*c = node{label: c.label[:l], indices: tail.label[:1], children: []*node{tail}}
		}
		n, key = c, key[l:]
	}
	n.entries = append(n.entries, e)
}

func commonPrefix(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// finish puts every entry list in candidate order: priority DESC, then longer pattern,
// then insertion order.
func (t *table) finish() {
	for _, es := range t.exact {
		sortEntries(es)
	}
	t.root.finish()
}

func (n *node) finish() {
	sortEntries(n.entries)
	for _, c := range n.children {
		c.finish()
	}
}

func sortEntries(es []entry) {
	slices.SortFunc(es, func(a, b entry) int {
		if c := cmp.Compare(b.prio, a.prio); c != 0 {
			return c
		}
		if c := cmp.Compare(len(b.pat), len(a.pat)); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
}

// match returns the first candidate of t that passes, exact path first, then the
// prefixes of the path from the longest to the shortest.
func (t *table) match(s *state) *entry {
	path := s.req.Path
	if es, ok := t.exact[path]; ok {
		for i := range es {
			if s.try(&es[i]) {
				return &es[i]
			}
		}
	}
	return t.walk(&t.root, 0, s)
}

// walk descends along the path first and tries n's own entries on the way back up, so
// the longest matching prefix is tried first. off is where n's label ended in the path.
// The recursion depth is bounded by the number of trie nodes on the path.
func (t *table) walk(n *node, off int, s *state) *entry {
	path := s.req.Path
	if off < len(path) {
		if i := strings.IndexByte(n.indices, path[off]); i >= 0 {
			c := n.children[i]
			if strings.HasPrefix(path[off:], c.label) {
				if e := t.walk(c, off+len(c.label), s); e != nil {
					return e
				}
			}
		}
	}
	for i := range n.entries {
		if s.try(&n.entries[i]) {
			return &n.entries[i]
		}
	}
	return nil
}
