package proxy_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/porticotest"
)

// arrayNode is u as an element of the array form of nodes.
func arrayNode(t *testing.T, addr string, weight, priority int) string {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`{"host":%q,"port":%s,"weight":%d,"priority":%d}`, host, port, weight, priority)
}

func TestBalancing(t *testing.T) {
	t.Parallel()
	p := porticotest.Start(t)
	release := make(chan struct{})
	defer close(release)
	hold := func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/lc/hold" {
			// headers and a first chunk, then the body stays open: the request is
			// still active for least_conn
			io.WriteString(w, "first\n")
			w.(http.Flusher).Flush()
			<-release
			return
		}
		io.WriteString(w, "ok")
	}
	a := porticotest.NewUpstreamWith(t, "a", hold)
	b := porticotest.NewUpstreamWith(t, "b", hold)
	dead := porticotest.ClosedAddr(t)

	put := func(id, body string) { p.Admin(t, "PUT", "/apisix/admin/routes/"+id, body).WantStatus(201) }
	put("rr", `{"uri":"/rr","upstream":{"nodes":{`+a.Node(3)+`,`+b.Node(1)+`}}}`)
	put("prio", `{"uri":"/prio","upstream":{"nodes":[`+arrayNode(t, b.Addr, 1, 0)+`,`+arrayNode(t, a.Addr, 1, 1)+`]}}`)
	put("zero", `{"uri":"/zero","upstream":{"nodes":[`+arrayNode(t, a.Addr, 0, 0)+`,`+arrayNode(t, b.Addr, 2, 0)+`]}}`)
	put("chash", `{"uri":"/chash","upstream":{"type":"chash","hash_on":"header","key":"X-User","nodes":{`+a.Node(1)+`,`+b.Node(1)+`}}}`)
	put("lc", `{"uri":"/lc/*","upstream":{"type":"least_conn","nodes":{`+a.Node(1)+`,`+b.Node(1)+`}}}`)
	put("ewma", `{"uri":"/ewma","upstream":{"type":"ewma","nodes":{`+a.Node(1)+`,`+b.Node(1)+`}}}`)
	put("retry", `{"uri":"/retry","upstream":{"nodes":[`+arrayNode(t, dead, 1, 1)+`,`+arrayNode(t, b.Addr, 1, 0)+`]}}`)
	put("noretry", `{"uri":"/noretry","upstream":{"retries":0,"nodes":[`+arrayNode(t, dead, 1, 1)+`,`+arrayNode(t, b.Addr, 1, 0)+`]}}`)
	served(t, p, "/retry", "b")

	count := func(n int, path string, hdr ...string) map[string]int {
		t.Helper()
		got := map[string]int{}
		for range n {
			r := get(t, p, path, hdr...)
			if r.Status != 200 {
				t.Fatalf("GET %s: status %d, body %s", path, r.Status, r.Body)
			}
			got[from(r)]++
		}
		return got
	}

	t.Run("roundrobin weights 3:1", func(t *testing.T) {
		got := count(400, "/rr")
		if got["a"] < 270 || got["a"] > 330 || got["a"]+got["b"] != 400 {
			t.Errorf("a:b = %d:%d over 400, want about 300:100", got["a"], got["b"])
		}
	})
	t.Run("array nodes, higher priority first", func(t *testing.T) {
		if got := count(20, "/prio"); got["a"] != 20 {
			t.Errorf("got %v, want every request on the priority 1 node a", got)
		}
	})
	t.Run("weight 0 takes nothing", func(t *testing.T) {
		if got := count(20, "/zero"); got["b"] != 20 {
			t.Errorf("got %v, want every request on b", got)
		}
	})
	t.Run("chash by header sticks", func(t *testing.T) {
		used := map[string]bool{}
		for i := range 40 {
			user := "user-" + strconv.Itoa(i)
			got := count(3, "/chash", "X-User", user)
			if len(got) != 1 {
				t.Errorf("X-User %s went to %v, want one node", user, got)
			}
			for k := range got {
				used[k] = true
			}
		}
		if len(used) != 2 {
			t.Errorf("40 users all hashed to %v, want both nodes used", used)
		}
	})
	t.Run("least_conn avoids the busy node", func(t *testing.T) {
		resp, err := p.Client.Get(p.ProxyURL + "/lc/hold")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		busy := resp.Header.Get("X-Upstream")
		idle := map[string]string{"a": "b", "b": "a"}[busy]
		if idle == "" {
			t.Fatalf("held request answered by %q", busy)
		}
		// the held response is still streaming: every new request goes to the other node
		if got := count(10, "/lc/fast"); got[idle] != 10 {
			t.Errorf("with %s busy: %v, want all 10 on %s", busy, got, idle)
		}
	})
	t.Run("ewma prefers the fast node", func(t *testing.T) {
		// a answers /ewma slowly; nothing about wall-clock time is asserted, only
		// that the balancer learned which node is faster
		slow := porticotest.NewUpstreamWith(t, "slow", func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(20 * time.Millisecond)
		})
		put("ewma2", `{"uri":"/ewma2","upstream":{"type":"ewma","nodes":{`+slow.Node(1)+`,`+b.Node(1)+`}}}`)
		served(t, p, "/ewma2", "b")
		got := count(60, "/ewma2")
		if got["b"] < 45 {
			t.Errorf("got %v, want most of 60 requests on the fast node b", got)
		}
	})
	t.Run("retries: first node refused, second serves", func(t *testing.T) {
		if got := count(10, "/retry"); got["b"] != 10 {
			t.Errorf("got %v, want all on b", got)
		}
	})
	t.Run("retries: a POST with a body too, when the node refused", func(t *testing.T) {
		for i := range 3 {
			want := strings.Repeat("body", 1000+i)
			req, _ := http.NewRequest("POST", p.ProxyURL+"/retry", strings.NewReader(want))
			r := p.Do(t, req)
			if r.Status != 200 || from(r) != "b" {
				t.Fatalf("status %d from %q, want 200 from b", r.Status, from(r))
			}
			if got := b.Last().Body; got != want {
				t.Errorf("b got a body of %d bytes, want %d", len(got), len(want))
			}
		}
	})
	t.Run("retries 0: 502", func(t *testing.T) {
		for range 3 {
			wantError(t, get(t, p, "/noretry"), http.StatusBadGateway)
		}
	})
}

func TestPassHost(t *testing.T) {
	t.Parallel()
	p := porticotest.Start(t)
	up := porticotest.NewUpstream(t, "a")
	p.Admin(t, "PUT", "/apisix/admin/routes/pass", `{"uri":"/pass","upstream":{"pass_host":"pass","nodes":{`+up.Node(1)+`}}}`).WantStatus(201)
	p.Admin(t, "PUT", "/apisix/admin/routes/node", `{"uri":"/node","upstream":{"pass_host":"node","nodes":{`+up.Node(1)+`}}}`).WantStatus(201)
	p.Admin(t, "PUT", "/apisix/admin/routes/rewrite", `{"uri":"/rewrite","upstream":{"pass_host":"rewrite","upstream_host":"rewritten.test","nodes":{`+up.Node(1)+`}}}`).WantStatus(201)
	served(t, p, "/rewrite", "a")
	for path, want := range map[string]string{"/pass": "client.test:1234", "/node": up.Addr, "/rewrite": "rewritten.test"} {
		r := get(t, p, path, "Host", "client.test:1234").WantStatus(200)
		if got := seen(t, r).Host; got != want {
			t.Errorf("%s: upstream Host = %q, want %q", path, got, want)
		}
	}
}

func TestUpstreamErrors(t *testing.T) {
	t.Parallel()
	p := porticotest.Start(t)
	slow := porticotest.NewUpstreamWith(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done(): // the proxy gave up
		case <-time.After(30 * time.Second):
		}
	})
	up := porticotest.NewUpstream(t, "a")
	dead1, dead2 := porticotest.ClosedAddr(t), porticotest.ClosedAddr(t)
	put := func(kind, id, body string) {
		t.Helper()
		r := p.Admin(t, "PUT", "/apisix/admin/"+kind+"/"+id, body)
		if r.Status != 200 && r.Status != 201 {
			t.Fatalf("PUT %s/%s: %d %s", kind, id, r.Status, r.Body)
		}
	}
	put("routes", "timeout", `{"uri":"/timeout","upstream":{"timeout":{"connect":1,"send":1,"read":0.5},"nodes":{`+slow.Node(1)+`}}}`)
	put("routes", "route-timeout", `{"uri":"/route-timeout","timeout":{"connect":1,"send":1,"read":0.5},"upstream":{"nodes":{`+slow.Node(1)+`}}}`)
	// answers after 0.9 s: past a read timeout of 0.5 s, within connect + read (1 s)
	late := porticotest.NewUpstreamWith(t, "late", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(900 * time.Millisecond)
		io.WriteString(w, "late")
	})
	put("routes", "route-read", `{"uri":"/route-read","timeout":{"connect":0.5,"send":0.5,"read":0.5},"upstream":{"nodes":{`+late.Node(1)+`}}}`)
	put("routes", "route-longer", `{"uri":"/route-longer","timeout":{"connect":1,"send":1,"read":3},"upstream":{"timeout":{"connect":1,"send":1,"read":0.3},"nodes":{`+late.Node(1)+`}}}`)
	put("routes", "empty-map", `{"uri":"/empty-map","upstream":{"nodes":{}}}`)
	put("routes", "empty-array", `{"uri":"/empty-array","upstream":{"nodes":[]}}`)
	put("routes", "refused", `{"uri":"/refused","upstream":{"nodes":{"`+dead1+`":1,"`+dead2+`":1}}}`)
	put("upstreams", "gone", `{"nodes":{`+up.Node(1)+`}}`)
	put("routes", "gone", `{"uri":"/gone","upstream_id":"gone"}`)
	served(t, p, "/gone", "a")
	p.Admin(t, "DELETE", "/apisix/admin/upstreams/gone", "").WantStatus(400) // still referenced
	p.Admin(t, "DELETE", "/apisix/admin/upstreams/gone?force=true", "").WantStatus(200)
	porticotest.Eventually(t, wait, "force-deleted upstream refused", func() bool { return get(t, p, "/gone").Status != 200 })

	wantError(t, get(t, p, "/timeout"), http.StatusGatewayTimeout)
	wantError(t, get(t, p, "/route-timeout"), http.StatusGatewayTimeout)
	// a route's timeout is applied as nginx's proxy_read_timeout, as the upstream's is
	// (APISIX t/node/timeout-upstream.t), and replaces the upstream's, longer or shorter
	wantError(t, get(t, p, "/route-read"), http.StatusGatewayTimeout)
	// X-APISIX-Upstream-Status: the upstream's 5xx (here none came: nginx's 504/502), not
	// the gateway's own errors (no upstream at all)
	for _, tt := range []struct {
		path string
		want string
	}{{"/timeout", "504"}, {"/refused", "502"}, {"/empty-map", ""}, {"/no-such-route", ""}} {
		if got := get(t, p, tt.path).Header.Get("X-APISIX-Upstream-Status"); got != tt.want {
			t.Errorf("%s: X-APISIX-Upstream-Status %q, want %q", tt.path, got, tt.want)
		}
	}
	fivexx := porticotest.NewUpstreamWith(t, "5xx", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		w.WriteHeader(code)
	})
	put("routes", "fivexx", `{"uri":"/fivexx","upstream":{"nodes":{`+fivexx.Node(1)+`}}}`)
	porticotest.Eventually(t, wait, "/fivexx served", func() bool { return get(t, p, "/fivexx?code=200").Status == 200 })
	for code, want := range map[string]string{"503": "503", "500": "500", "404": "", "200": ""} {
		if got := get(t, p, "/fivexx?code="+code).Header.Get("X-APISIX-Upstream-Status"); got != want {
			t.Errorf("upstream %s: X-APISIX-Upstream-Status %q, want %q", code, got, want)
		}
	}
	if r := get(t, p, "/route-longer"); r.Status != 200 || string(r.Body) != "late" {
		t.Errorf("/route-longer: %d %s, want the late answer (the route's read timeout is 3 s)", r.Status, r.Body)
	}
	wantError(t, get(t, p, "/empty-map"), http.StatusServiceUnavailable)
	wantError(t, get(t, p, "/empty-array"), http.StatusServiceUnavailable)
	wantError(t, get(t, p, "/refused"), http.StatusBadGateway)
	wantError(t, do(t, p, "POST", "/refused"), http.StatusBadGateway)
	wantError(t, get(t, p, "/gone"), http.StatusBadGateway)
	wantError(t, get(t, p, "/no-such-route"), http.StatusNotFound)
}

// healthUpstream answers /health with the status in *health, anything else 200.
func healthUpstream(t *testing.T, name string, health *atomic.Int32) *porticotest.Upstream {
	health.Store(200)
	return porticotest.NewUpstreamWith(t, name, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			w.WriteHeader(int(health.Load()))
			return
		}
		io.WriteString(w, "ok")
	})
}

// fast active checks: probe every 20 ms, one result changes the state
const fastChecks = `"checks":{"active":{"type":"http","http_path":"/health","timeout":1,
	"healthy":{"interval":0.02,"successes":1},
	"unhealthy":{"interval":0.02,"http_failures":1,"tcp_failures":1,"timeouts":1}}}`

func TestHealthEjectAndReadmit(t *testing.T) {
	t.Parallel()
	p := porticotest.Start(t)
	var ha, hb atomic.Int32
	a, b := healthUpstream(t, "a", &ha), healthUpstream(t, "b", &hb)
	p.Admin(t, "PUT", "/apisix/admin/routes/1", `{"uri":"/hc","upstream":{"retries":0,
		"nodes":{`+a.Node(1)+`,`+b.Node(1)+`},`+fastChecks+`}}`).WantStatus(201)
	served(t, p, "/hc", "a")
	served(t, p, "/hc", "b")

	// b's server goes away: after ejection no request fails
	b.Close()
	healthyRun(t, p, "/hc", 20, "a")
	for range 100 {
		if r := get(t, p, "/hc"); r.Status != 200 || from(r) != "a" {
			t.Fatalf("after ejection: status %d from %q, want 200 from a", r.Status, from(r))
		}
	}
	// back on the same port: readmitted
	b.Reopen(t)
	served(t, p, "/hc", "b")
}

// healthyRun polls until n requests in a row answer 200 from one of want.
func healthyRun(t *testing.T, p *porticotest.Portico, path string, n int, want ...string) {
	t.Helper()
	porticotest.Eventually(t, wait, fmt.Sprintf("%d requests in a row served by %v", n, want), func() bool {
		for range n {
			r := get(t, p, path)
			ok := false
			for _, w := range want {
				ok = ok || from(r) == w
			}
			if r.Status != 200 || !ok {
				return false
			}
		}
		return true
	})
}

func TestHealthAllUnhealthyUsesAll(t *testing.T) {
	t.Parallel()
	p := porticotest.Start(t)
	var ha, hb, hc atomic.Int32
	a, b, c := healthUpstream(t, "a", &ha), healthUpstream(t, "b", &hb), healthUpstream(t, "c", &hc)
	p.Admin(t, "PUT", "/apisix/admin/routes/1", `{"uri":"/hc","upstream":{
		"nodes":{`+a.Node(1)+`,`+b.Node(1)+`,`+c.Node(1)+`},`+fastChecks+`}}`).WantStatus(201)
	served(t, p, "/hc", "c")
	ha.Store(500)
	hb.Store(500)
	healthyRun(t, p, "/hc", 20, "c")
	// now c too: every node is unhealthy, so every node is used again
	hc.Store(500)
	seenBy := map[string]bool{}
	porticotest.Eventually(t, wait, "all three nodes used", func() bool {
		r := get(t, p, "/hc")
		if r.Status != 200 {
			t.Fatalf("all unhealthy: status %d, want 200 (health ignored)", r.Status)
		}
		seenBy[from(r)] = true
		return len(seenBy) == 3
	})
}

// TestHealthSurvivesReload: an upstream whose configuration does not change keeps the
// health its checker learned across snapshot rebuilds.
func TestHealthSurvivesReload(t *testing.T) {
	t.Parallel()
	p := porticotest.Start(t)
	a, other := porticotest.NewUpstream(t, "a"), porticotest.NewUpstream(t, "other")
	dead := porticotest.ClosedAddr(t)
	// probes are slow (60 s): only the passive check can eject the dead node, on its
	// first refused connection; a new checker would start with it healthy again
	ups := `{"retries":0,"nodes":{` + a.Node(1) + `,"` + dead + `":1},"checks":{
		"active":{"http_path":"/","healthy":{"interval":60},"unhealthy":{"interval":60}},
		"passive":{"unhealthy":{"tcp_failures":1}}}}`
	p.Admin(t, "PUT", "/apisix/admin/upstreams/u1", ups).WantStatus(201)
	p.Admin(t, "PUT", "/apisix/admin/routes/1", `{"uri":"/keep","upstream_id":"u1"}`).WantStatus(201)
	porticotest.Eventually(t, wait, "the dead node picked once", func() bool { return get(t, p, "/keep").Status == 502 })
	healthyRun(t, p, "/keep", 20, "a")
	for i := range 5 {
		if i == 2 {
			// the same upstream written again: same configuration, same checker
			p.Admin(t, "PUT", "/apisix/admin/upstreams/u1", ups).WantStatus(200)
		}
		want := 200
		if i == 0 {
			want = 201
		}
		p.Admin(t, "PUT", "/apisix/admin/routes/2", fmt.Sprintf(`{"uri":"/other%d","upstream":{"nodes":{%s}}}`, i, other.Node(1))).WantStatus(want)
		served(t, p, fmt.Sprintf("/other%d", i), "other")
		for range 20 {
			if r := get(t, p, "/keep"); r.Status != 200 {
				t.Fatalf("reload %d: status %d: the dead node was healthy again", i, r.Status)
			}
		}
	}
}

// TestUpstreamSendTimeout: an upstream that takes the connection but never reads the
// request body stalls the proxy's writes; timeout.send ends it with 504, as nginx's
// proxy_send_timeout (between two successive writes).
func TestUpstreamSendTimeout(t *testing.T) {
	t.Parallel()
	p := porticotest.Start(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	held := make(chan net.Conn, 16)
	t.Cleanup(func() {
		ln.Close()
		for {
			select {
			case c := <-held:
				c.Close()
			default:
				return
			}
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			select {
			case held <- c: // accepted, never read
			default:
				c.Close()
			}
		}
	}()
	r := p.Admin(t, "PUT", "/apisix/admin/routes/send", `{"uri":"/send","upstream":{"timeout":{"connect":1,"send":0.3,"read":30},"nodes":{"`+ln.Addr().String()+`":1}}}`)
	if r.Status != 201 {
		t.Fatalf("PUT: %d %s", r.Status, r.Body)
	}
	// larger than what the loopback's socket buffers take, sent as fast as the proxy reads
	body := strings.NewReader(strings.Repeat("x", 64<<20))
	req, _ := http.NewRequest("POST", p.ProxyURL+"/send", body)
	wantError(t, p.Do(t, req), http.StatusGatewayTimeout)
}
