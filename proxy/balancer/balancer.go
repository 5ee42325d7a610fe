package balancer

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Balancer types as an upstream's `type` names them.
const (
	RoundRobin = "roundrobin"
	CHash      = "chash"
	LeastConn  = "least_conn"
	EWMA       = "ewma"
)

// Errors New returns, for errors.Is.
var (
	// ErrNoNodes: no node has a weight above 0, so nothing can ever be picked.
	ErrNoNodes = errors.New("no upstream node with weight above 0")
	// ErrUnknownType: the type is none of roundrobin, chash, least_conn, ewma.
	ErrUnknownType = errors.New("unknown balancer type")
)

// Node is one upstream node as the balancer sees it.
type Node struct {
	Host     string
	Port     int
	Weight   int
	Priority int
	Addr     string // "host:port", IPv6 bracketed; empty: built from Host and Port
}

// Balancer picks a node for each attempt of a request. See the package doc.
type Balancer interface {
	// Pick chooses a node index. skip(i) reports nodes to avoid (already tried in this
	// request's retries, or unhealthy); nil skip = none. key is the chash key (ignored by
	// the others). Higher Priority tiers are used first; a lower tier only when every node
	// of the higher tiers is skipped. If skip excludes every node, Pick returns ok=false.
	Pick(key string, skip func(i int) bool) (i int, ok bool)
	// Done reports the end of an attempt on node i (least_conn ends it as active; ewma
	// records latency); failed=true when it ended in an error. Call it exactly once for
	// every Pick that returned ok, failed attempts included.
	Done(i int, latency time.Duration, failed bool)
}

// New builds the balancer typ ("" is roundrobin) over nodes. It fails on an unknown type,
// a negative weight, or when no node has a weight above 0 (ErrNoNodes).
func New(typ string, nodes []Node) (Balancer, error) {
	t, err := buildTiers(nodes)
	if err != nil {
		return nil, err
	}
	switch typ {
	case "", RoundRobin:
		return newRoundRobin(nodes, t), nil
	case CHash:
		return newCHash(nodes, t), nil
	case LeastConn:
		return newLeastConn(nodes, t), nil
	case EWMA:
		return newEWMA(nodes, t), nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownType, typ)
}

// tiers holds the indices of the nodes with weight above 0, grouped by priority, highest
// priority first; within a tier, in the order of nodes.
type tiers [][]int

func buildTiers(nodes []Node) (tiers, error) {
	idx := make([]int, 0, len(nodes))
	for i, n := range nodes {
		if n.Weight < 0 {
			return nil, fmt.Errorf("node %d (%s): weight %d is below 0", i, addrOf(n), n.Weight)
		}
		if n.Weight > 0 {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return nil, ErrNoNodes
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(nodes[b].Priority, nodes[a].Priority) })
	var t tiers
	for start := 0; start < len(idx); {
		end := start + 1
		for end < len(idx) && nodes[idx[end]].Priority == nodes[idx[start]].Priority {
			end++
		}
		t = append(t, idx[start:end:end])
		start = end
	}
	return t, nil
}

// addrOf is the node's address, built from Host and Port when Addr is empty.
func addrOf(n Node) string {
	if n.Addr != "" {
		return n.Addr
	}
	return net.JoinHostPort(strings.TrimSuffix(strings.TrimPrefix(n.Host, "["), "]"), strconv.Itoa(n.Port))
}

// weights copies the nodes' weights into int64s.
func weights(nodes []Node) []int64 {
	w := make([]int64, len(nodes))
	for i, n := range nodes {
		w[i] = int64(n.Weight)
	}
	return w
}

// skipped reports skip(i), with nil skipping nothing.
func skipped(skip func(int) bool, i int) bool {
	return skip != nil && skip(i)
}

// valid reports whether i is an index Done may act on.
func valid(i, n int) bool { return i >= 0 && i < n }
