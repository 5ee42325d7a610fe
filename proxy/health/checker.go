package health

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
)

// A node's word: four 8-bit counters (bits 0–31) and its state (bits 32–33). Counters
// never pass 254, the largest threshold, because reaching a threshold resets them.
const (
	kindSuccess = iota
	kindHTTP
	kindTCP
	kindTimeout
)

// States as lua-resty-healthcheck's internal health; the first two are healthy outside.
const (
	stHealthy uint64 = iota
	stMostlyHealthy
	stMostlyUnhealthy
	stUnhealthy
)

const stateShift = 32

var (
	kindNames  = [...]string{"successes", "http_failures", "tcp_failures", "timeouts"}
	stateNames = [...]string{"healthy", "mostly_healthy", "mostly_unhealthy", "unhealthy"}
)

// slot is one node's word, alone on its cache line: Report runs on every request.
type slot struct {
	word atomic.Uint64
	_    [56]byte
}

// statusSet holds HTTP status codes 0–639.
type statusSet [10]uint64

func newStatusSet(codes []int) statusSet {
	var s statusSet
	for _, c := range codes {
		if c >= 0 && c < 640 {
			s[c/64] |= 1 << (c % 64)
		}
	}
	return s
}

func (s *statusSet) has(c int) bool {
	return c >= 0 && c < 640 && s[c/64]&(1<<(c%64)) != 0
}

// Checker tracks the health of one upstream's nodes: node i is addrs[i] of NewChecker, the
// same index the balancer uses. A nil *Checker finds every node healthy and ignores
// reports, so an upstream without checks needs no special case.
type Checker struct {
	active  *Active  // defaults applied; nil: no probes
	passive *Passive // defaults applied; nil: Report does nothing
	addrs   []string
	nodes   []slot
	bad     atomic.Int32 // nodes unhealthy outside (mostly_unhealthy or unhealthy)
	log     *slog.Logger

	// onChange (see OnChange); notifyMu orders its calls, closed ends them.
	onChange func(i int, healthy bool)
	notifyMu sync.Mutex
	closed   bool

	activeOK, activeBad, passiveOK, passiveBad statusSet

	// probes
	probeAddrs []string // addrs with active.port, when set
	hosts      []string // Host header of each node's probes
	header     http.Header
	client     *http.Client
	dialer     *net.Dialer
	cancel     context.CancelFunc
	done       chan struct{} // closed when the probing goroutine ends; nil: none started
	closeOnce  sync.Once
}

// Option configures a Checker beyond its Config.
type Option func(*Checker)

// OnChange has f called with node i's health (healthy or mostly_healthy: true) once for
// every node, healthy, when the Checker starts, and then each time a node turns healthy
// or unhealthy. f runs on the goroutine that saw the change (a probe, or the request
// calling Report), one call at a time, and sees the node's state at the time of the
// call, so the last call for a node always tells its current health. It must not block
// nor call the Checker. It is not called once Close has returned.
func OnChange(f func(i int, healthy bool)) Option {
	return func(c *Checker) { c.onChange = f }
}

// NewChecker starts checking addrs ("host:port", IPv6 bracketed) with cfg, which should
// have passed Validate; out-of-range values are clamped so a bad config cannot spin.
// Every node starts healthy. With cfg.Active set, one goroutine probes until Close; probes
// send hostHeader as Host (and TLS server name) unless active.host is set, and the node's
// host when both are empty.
func NewChecker(cfg Config, addrs []string, hostHeader string, opts ...Option) *Checker {
	cfg = cfg.clone()
	cfg.ApplyDefaults()
	c := &Checker{
		active:  cfg.Active,
		passive: cfg.Passive,
		addrs:   append([]string(nil), addrs...),
		nodes:   make([]slot, len(addrs)),
		log:     slog.Default().With("component", "health"),
	}
	for _, o := range opts {
		o(c)
	}
	if c.onChange != nil {
		for i := range c.nodes {
			c.onChange(i, true)
		}
	}
	if p := c.passive; p != nil {
		c.passiveOK = newStatusSet(p.Healthy.HTTPStatuses)
		c.passiveBad = newStatusSet(p.Unhealthy.HTTPStatuses)
	}
	if c.active != nil && len(addrs) > 0 {
		c.startProbes(hostHeader)
	}
	return c
}

// Healthy reports whether node i is healthy (healthy or mostly healthy). It reads one
// atomic word. An index out of range, or a nil Checker, is healthy.
func (c *Checker) Healthy(i int) bool {
	if c == nil || i < 0 || i >= len(c.nodes) {
		return true
	}
	return c.nodes[i].word.Load()>>stateShift&3 < stMostlyUnhealthy
}

// AllUnhealthy reports whether every node is unhealthy; then the proxy balances over all
// of them, as APISIX does. A nil Checker reports false.
func (c *Checker) AllUnhealthy() bool {
	return c != nil && len(c.nodes) > 0 && int(c.bad.Load()) == len(c.nodes)
}

// State is node i's state as lua-resty-healthcheck names it: healthy, mostly_healthy,
// mostly_unhealthy or unhealthy ("" for an index out of range).
func (c *Checker) State(i int) string {
	if c == nil {
		return stateNames[stHealthy]
	}
	if i < 0 || i >= len(c.nodes) {
		return ""
	}
	return stateNames[c.nodes[i].word.Load()>>stateShift&3]
}

// Report is the passive check: the proxy calls it after each attempt on node i with the
// upstream's status, or with status 0 and the error when there was no response (a TCP
// failure), or with timeout=true. A status in neither of the passive lists counts for
// nothing. With passive type tcp only failures to connect and timeouts count; any status
// is a success. Without passive checks Report does nothing.
func (c *Checker) Report(i int, status int, err error, timeout bool) {
	if c == nil || c.passive == nil || i < 0 || i >= len(c.nodes) {
		return
	}
	p := c.passive
	switch {
	case timeout:
		c.record(i, kindTimeout, p.Unhealthy.Timeouts, "passive")
	case status == 0:
		c.record(i, kindTCP, p.Unhealthy.TCPFailures, "passive")
	case p.Type == "tcp":
		c.record(i, kindSuccess, p.Healthy.Successes, "passive")
	case c.passiveBad.has(status):
		c.record(i, kindHTTP, p.Unhealthy.HTTPFailures, "passive")
	case c.passiveOK.has(status):
		c.record(i, kindSuccess, p.Healthy.Successes, "passive")
	}
}

// Close stops the probes and waits for them to end, and ends OnChange calls. It is
// idempotent; the Checker still answers Healthy with what it knew.
func (c *Checker) Close() {
	if c == nil {
		return
	}
	c.notifyMu.Lock()
	c.closed = true
	c.notifyMu.Unlock()
	c.closeOnce.Do(func() {
		if c.done == nil {
			return
		}
		c.cancel()
		<-c.done
		c.client.CloseIdleConnections()
	})
}

// record counts one observation of kind against threshold limit (≤ 0: not counted), as
// lua-resty-healthcheck's incr_counter does:
//   - a success on a healthy node, or a failure on an unhealthy one, changes nothing;
//   - otherwise the kind's counter grows; a healthy node becomes mostly_healthy, an
//     unhealthy one mostly_unhealthy;
//   - when the counter reaches limit the node becomes healthy (success) or unhealthy
//     (failure) and every counter starts again from 0.
//
// So a node turns unhealthy after limit failures of one kind that come before `successes`
// successes, and healthy again after `successes` successes that come before a failure
// threshold is reached. The word changes by compare-and-swap; no lock is taken.
func (c *Checker) record(i, kind, limit int, source string) {
	if limit <= 0 {
		return
	}
	limit = min(limit, 254)
	shift := uint(kind * 8)
	good := kind == kindSuccess
	w := &c.nodes[i].word
	for {
		old := w.Load()
		st := old >> stateShift & 3
		if good && st == stHealthy || !good && st == stUnhealthy {
			return
		}
		n := old>>shift&0xff + 1
		var next, ns uint64
		switch {
		case int(n) >= limit && good:
			ns = stHealthy
			next = ns << stateShift
		case int(n) >= limit:
			ns = stUnhealthy
			next = ns << stateShift
		default:
			ns = st
			if st == stHealthy {
				ns = stMostlyHealthy
			} else if st == stUnhealthy {
				ns = stMostlyUnhealthy
			}
			next = old&^(0xff<<shift|3<<stateShift) | n<<shift | ns<<stateShift
		}
		if !w.CompareAndSwap(old, next) {
			continue
		}
		wasBad, isBad := st >= stMostlyUnhealthy, ns >= stMostlyUnhealthy
		switch {
		case isBad && !wasBad:
			c.bad.Add(1)
			c.log.Warn("upstream node is unhealthy", "node", c.addrs[i], "check", source,
				"reason", kindNames[kind], "count", limit)
			c.notify(i)
		case wasBad && !isBad:
			c.bad.Add(-1)
			c.log.Info("upstream node is healthy", "node", c.addrs[i], "check", source,
				"successes", limit)
			c.notify(i)
		}
		return
	}
}

// notify calls onChange with node i's health as it is now: under notifyMu, so calls
// for changes that race end with the last state.
func (c *Checker) notify(i int) {
	if c.onChange == nil {
		return
	}
	c.notifyMu.Lock()
	defer c.notifyMu.Unlock()
	if !c.closed {
		c.onChange(i, c.Healthy(i))
	}
}

// probeAddr is addr with its port replaced by port, when port is set.
func probeAddr(addr string, port int) string {
	if port == 0 {
		return addr
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// hostOf is addr's host, IPv6 bracketed, for a Host header.
func hostOf(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if net.ParseIP(host) != nil && net.ParseIP(host).To4() == nil {
		return "[" + host + "]"
	}
	return host
}
