package health

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// letter renders a state: H healthy, h mostly_healthy, u mostly_unhealthy, U unhealthy.
func letter(c *Checker, i int) string {
	return map[string]string{"healthy": "H", "mostly_healthy": "h", "mostly_unhealthy": "u", "unhealthy": "U"}[c.State(i)]
}

func TestPassive(t *testing.T) {
	p := func(mod func(*Passive)) *Passive {
		v := &Passive{Healthy: PassiveHealthy{Successes: 2},
			Unhealthy: PassiveUnhealthy{HTTPFailures: 3, TCPFailures: 2, Timeouts: 2}}
		if mod != nil {
			mod(v)
		}
		return v
	}
	tests := []struct {
		name    string
		passive *Passive
		reports string // status, "err" (no response), "to" (timeout)
		want    string // state after each report
	}{
		{"http failures, then recovery", p(nil), "500 500 500 200 200", "hhUuH"},
		{"one success does not reset failures", p(nil), "500 500 200 503", "hhhU"},
		{"enough successes reset them", p(nil), "500 500 200 200 500 500", "hhhHhh"},
		{"a success on a healthy node is nothing", p(nil), "200 200 500", "HHh"},
		{"a failure on an unhealthy node is nothing", p(nil), "err err 500 200 500 200", "hUUuuH"},
		{"tcp failures", p(nil), "err err", "hU"},
		{"timeouts", p(nil), "to to", "hU"},
		{"kinds count apart", p(nil), "err 500 to 500 500", "hhhhU"},
		{"status in neither list", p(nil), "404 302", "HH"},
		{"custom lists", p(func(v *Passive) {
			v.Unhealthy.HTTPStatuses = []int{404}
			v.Unhealthy.HTTPFailures = 1
		}), "500 404", "HU"},
		{"passive tcp: any status is a success", p(func(v *Passive) { v.Type = "tcp" }), "err 500 500 err", "hhHh"},
		{"defaults", &Passive{}, "500 500 500 500 500", "hhhhU"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewChecker(Config{Passive: tt.passive}, []string{"127.0.0.1:1980", "127.0.0.1:1981"}, "")
			defer c.Close()
			var got strings.Builder
			for _, r := range strings.Fields(tt.reports) {
				switch r {
				case "err":
					c.Report(0, 0, errors.New("connection refused"), false)
				case "to":
					c.Report(0, 0, errors.New("i/o timeout"), true)
				default:
					s, _ := strconv.Atoi(r)
					c.Report(0, s, nil, false)
				}
				got.WriteString(letter(c, 0))
			}
			if got.String() != tt.want {
				t.Errorf("states after %q = %s, want %s", tt.reports, got.String(), tt.want)
			}
			if !c.Healthy(1) || c.AllUnhealthy() {
				t.Errorf("node 1: Healthy = %v, AllUnhealthy = %v; want true, false", c.Healthy(1), c.AllUnhealthy())
			}
		})
	}
}

func TestAllUnhealthy(t *testing.T) {
	c := NewChecker(Config{Passive: &Passive{Unhealthy: PassiveUnhealthy{TCPFailures: 1}, Healthy: PassiveHealthy{Successes: 1}}},
		[]string{"127.0.0.1:1980", "127.0.0.1:1981"}, "")
	defer c.Close()
	steps := []struct {
		node, status int
		want         bool
	}{
		{0, 0, false},
		{1, 0, true},
		{1, 200, false},
	}
	for _, s := range steps {
		c.Report(s.node, s.status, nil, false)
		if got := c.AllUnhealthy(); got != s.want {
			t.Errorf("after %d on node %d: AllUnhealthy = %v, want %v", s.status, s.node, got, s.want)
		}
	}
}

func TestNilAndEmpty(t *testing.T) {
	var c *Checker
	c.Report(0, 500, nil, false)
	c.Close()
	if !c.Healthy(0) || c.AllUnhealthy() || c.State(3) != "healthy" {
		t.Error("a nil Checker must find every node healthy")
	}
	// no passive checks: reports count for nothing
	d := NewChecker(Config{Active: &Active{Healthy: ActiveHealthy{Interval: 3600}, Unhealthy: ActiveUnhealthy{Interval: 3600}}},
		[]string{"127.0.0.1:1"}, "")
	defer d.Close()
	for range 10 {
		d.Report(0, 0, errors.New("refused"), false)
	}
	d.Report(-1, 500, nil, false)
	d.Report(7, 500, nil, false)
	if !d.Healthy(0) || !d.Healthy(7) {
		t.Error("without passive checks Report must change nothing")
	}
}

// waitFor polls cond until it holds; the deadline is only a guard against hanging.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// upstream is a test server whose status can be changed; it records the last probe.
type upstream struct {
	*httptest.Server
	status atomic.Int32
	hits   atomic.Int64
	mu     sync.Mutex
	last   *http.Request
}

func newUpstream(t *testing.T, tls bool, status int) *upstream {
	u := &upstream{}
	u.status.Store(int32(status))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		u.mu.Lock()
		u.last = r
		u.mu.Unlock()
		w.WriteHeader(int(u.status.Load()))
	})
	if tls {
		u.Server = httptest.NewTLSServer(h)
	} else {
		u.Server = httptest.NewServer(h)
	}
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) addr() string {
	return strings.TrimPrefix(strings.TrimPrefix(u.URL, "http://"), "https://")
}

func (u *upstream) lastRequest() *http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last
}

// fast is an active config probing every 0.05 s.
func fast(typ string) *Active {
	return &Active{Type: typ, Timeout: 2,
		Healthy:   ActiveHealthy{Interval: 0.05, Successes: 2},
		Unhealthy: ActiveUnhealthy{Interval: 0.05, HTTPFailures: 2, TCPFailures: 2, Timeouts: 2}}
}

func TestActiveHTTP(t *testing.T) {
	flaky := newUpstream(t, false, 200)
	steady := newUpstream(t, false, 200)
	a := fast("http")
	a.HTTPPath = "/status?full=1"
	a.ReqHeaders = []string{"X-Probe: yes"}
	cfg := Config{Active: a}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	c := NewChecker(cfg, []string{flaky.addr(), steady.addr()}, "example.test")
	defer c.Close()

	waitFor(t, "the first probe", func() bool { return flaky.hits.Load() > 0 })
	r := flaky.lastRequest()
	if r.Method != "GET" || r.URL.RequestURI() != "/status?full=1" || r.Host != "example.test" || r.Header.Get("X-Probe") != "yes" {
		t.Errorf("probe = %s %s Host %q X-Probe %q; want GET /status?full=1, example.test, yes",
			r.Method, r.URL.RequestURI(), r.Host, r.Header.Get("X-Probe"))
	}

	flaky.status.Store(500)
	waitFor(t, "the node answering 500 is unhealthy", func() bool { return !c.Healthy(0) })
	if c.State(0) != "unhealthy" {
		t.Errorf("state = %s, want unhealthy", c.State(0))
	}
	flaky.status.Store(200)
	waitFor(t, "the node is healthy again", func() bool { return c.State(0) == "healthy" })
	if !c.Healthy(1) {
		t.Error("the steady node is unhealthy")
	}
}

func TestActiveTCP(t *testing.T) {
	open, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	go func() {
		for {
			conn, err := open.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	c := NewChecker(Config{Active: fast("tcp")}, []string{closedAddr, open.Addr().String()}, "")
	defer c.Close()
	waitFor(t, "the closed port is unhealthy", func() bool { return c.State(0) == "unhealthy" })
	if !c.Healthy(1) {
		t.Error("the open port is unhealthy")
	}
}

func TestActiveTimeout(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) }) // runs first: no handler is left waiting
	a := fast("http")
	a.Timeout = 0.05
	a.Unhealthy.TCPFailures = 200 // only timeouts can make it unhealthy
	c := NewChecker(Config{Active: a}, []string{strings.TrimPrefix(slow.URL, "http://")}, "")
	defer c.Close()
	waitFor(t, "the slow node is unhealthy", func() bool { return c.State(0) == "unhealthy" })
	if !c.AllUnhealthy() {
		t.Error("AllUnhealthy = false with the only node unhealthy")
	}
}

func TestActiveHTTPS(t *testing.T) {
	tests := []struct {
		name   string
		verify bool
		status int
	}{
		// unverified: the handshake succeeds and the 500 counts
		{"certificate not verified", false, 500},
		// verified: the test certificate is unknown, the handshake fails though the node says 200
		{"certificate verified", true, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUpstream(t, true, tt.status)
			a := fast("https")
			a.HTTPSVerifyCertificate = &tt.verify
			c := NewChecker(Config{Active: a}, []string{u.addr()}, "")
			defer c.Close()
			waitFor(t, "the node is unhealthy", func() bool { return c.State(0) == "unhealthy" })
			if got := u.hits.Load() > 0; got == tt.verify {
				t.Errorf("requests reached the server: %v, want %v", got, !tt.verify)
			}
		})
	}
}

func TestActiveIntervals(t *testing.T) {
	u := newUpstream(t, false, 200)
	a := fast("http")
	a.Healthy.Interval = 3600 // healthy nodes are not probed during the test
	c := NewChecker(Config{Active: a, Passive: &Passive{Unhealthy: PassiveUnhealthy{HTTPFailures: 1}}}, []string{u.addr()}, "")
	defer c.Close()
	c.Report(0, 500, nil, false)
	if c.Healthy(0) {
		t.Fatal("a passive failure did not make the node unhealthy")
	}
	waitFor(t, "probes of the unhealthy node bring it back", func() bool { return c.State(0) == "healthy" })
	if n := u.hits.Load(); n < 2 {
		t.Errorf("%d probes, want at least successes = 2", n)
	}
}

func TestClose(t *testing.T) {
	u := newUpstream(t, false, 200)
	c := NewChecker(Config{Active: fast("http")}, []string{u.addr()}, "")
	waitFor(t, "the first probe", func() bool { return u.hits.Load() > 0 })
	c.Close()
	c.Close() // idempotent
	n := u.hits.Load()
	time.Sleep(200 * time.Millisecond) // four intervals: no probe may come after Close
	if m := u.hits.Load(); m != n {
		t.Errorf("%d probes after Close", m-n)
	}
	if !c.Healthy(0) {
		t.Error("a closed checker forgot its state")
	}
}

func TestProbeAddr(t *testing.T) {
	tests := []struct {
		addr string
		port int
		want string
		host string
	}{
		{"127.0.0.1:1980", 0, "127.0.0.1:1980", "127.0.0.1"},
		{"127.0.0.1:1980", 8080, "127.0.0.1:8080", "127.0.0.1"},
		{"[::1]:1980", 8080, "[::1]:8080", "[::1]"},
		{"example.com:80", 0, "example.com:80", "example.com"},
	}
	for _, tt := range tests {
		if got := probeAddr(tt.addr, tt.port); got != tt.want {
			t.Errorf("probeAddr(%q, %d) = %q, want %q", tt.addr, tt.port, got, tt.want)
		}
		if got := hostOf(tt.addr); got != tt.host {
			t.Errorf("hostOf(%q) = %q, want %q", tt.addr, got, tt.host)
		}
	}
}

func TestReport_hammer(t *testing.T) {
	addrs := make([]string, 4)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", 2000+i)
	}
	c := NewChecker(Config{Passive: &Passive{Healthy: PassiveHealthy{Successes: 2},
		Unhealthy: PassiveUnhealthy{HTTPFailures: 2, TCPFailures: 2}}}, addrs, "")
	defer c.Close()
	statuses := []int{200, 500, 0, 200, 503, 200}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for k := range 5000 {
				i := (g + k) % len(addrs)
				c.Report(i, statuses[(g*7+k)%len(statuses)], nil, k%97 == 0)
				_ = c.Healthy(i)
				_ = c.AllUnhealthy()
			}
		})
	}
	wg.Wait()
	bad := 0
	for i := range addrs {
		if !c.Healthy(i) {
			bad++
		}
	}
	if int(c.bad.Load()) != bad {
		t.Errorf("unhealthy count %d, but %d nodes are unhealthy", c.bad.Load(), bad)
	}
}

func BenchmarkReport(b *testing.B) {
	c := NewChecker(Config{Passive: &Passive{}}, []string{"127.0.0.1:1980", "127.0.0.1:1981"}, "")
	defer c.Close()
	b.ReportAllocs()
	for b.Loop() {
		c.Report(0, 200, nil, false)
		_ = c.Healthy(0)
	}
}

// TestOnChange: every node is reported healthy at start, then each change of health
// (not of the finer state) once; nothing after Close.
func TestOnChange(t *testing.T) {
	type call struct {
		i       int
		healthy bool
	}
	var mu sync.Mutex
	var calls []call
	c := NewChecker(Config{Passive: &Passive{Unhealthy: PassiveUnhealthy{HTTPFailures: 2}, Healthy: PassiveHealthy{Successes: 2}}},
		[]string{"127.0.0.1:1980", "127.0.0.1:1981"}, "",
		OnChange(func(i int, healthy bool) {
			mu.Lock()
			calls = append(calls, call{i, healthy})
			mu.Unlock()
		}))
	for _, s := range []int{500, 500, 500, 200, 200, 200} {
		c.Report(1, s, nil, false)
	}
	c.Close()
	c.Report(1, 500, nil, false)
	c.Report(1, 500, nil, false)
	want := []call{{0, true}, {1, true}, {1, false}, {1, true}}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Errorf("OnChange calls = %v, want %v", calls, want)
	}
}
