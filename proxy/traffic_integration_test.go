package proxy_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/porticotest"
)

// TestTrafficSplit: weights over a fixed number of requests, match rules in both
// condition forms, an inline upstream, a route without an upstream of its own, and an
// unknown upstream_id.
func TestTrafficSplit(t *testing.T) {
	t.Parallel()
	p := porticotest.Start(t)
	a := porticotest.NewUpstream(t, "a")
	route := porticotest.NewUpstream(t, "route")
	inline := porticotest.NewUpstream(t, "inline")
	p.Admin(t, "PUT", "/apisix/admin/upstreams/a", `{"nodes":{`+a.Node(1)+`}}`).WantStatus(201)
	p.Admin(t, "PUT", "/apisix/admin/routes/ts", `{"uri":"/ts","plugins":{"traffic-split":{"rules":[
		{"match":[{"vars":[["http_x_canary","==","yes"]]},{"vars":"arg_beta == '1' && http_x_region in ['eu','us']"}],
		 "weighted_upstreams":[{"upstream":{"nodes":{`+inline.Node(1)+`}}}]},
		{"weighted_upstreams":[{"upstream_id":"a","weight":3},{"weight":1}]}]}},
		"upstream":{"nodes":{`+route.Node(1)+`}}}`).WantStatus(201)
	served(t, p, "/ts", "inline", "X-Canary", "yes")

	t.Run("weights 3:1", func(t *testing.T) {
		const n = 400
		got := map[string]int{}
		for range n {
			r := get(t, p, "/ts")
			r.WantStatus(200)
			got[from(r)]++
		}
		// smooth round robin is exact per cycle; the tolerance covers a rebuilt
		// snapshot restarting the cycle
		if d := got["a"] - 3*n/4; d < -20 || d > 20 || got["a"]+got["route"] != n {
			t.Errorf("%d requests went %v, want about a:%d route:%d", n, got, 3*n/4, n/4)
		}
	})
	t.Run("match rules", func(t *testing.T) {
		tests := []struct {
			path string
			hdr  []string
			want string
		}{
			{"/ts", []string{"X-Canary", "yes"}, "inline"},
			{"/ts?beta=1", []string{"X-Region", "eu"}, "inline"},
			{"/ts?beta=1", []string{"X-Region", "asia"}, ""}, // falls to the weighted rule
			{"/ts?beta=2", []string{"X-Canary", "no"}, ""},
		}
		for _, tt := range tests {
			for range 4 {
				r := get(t, p, tt.path, tt.hdr...)
				if g := from(r); (tt.want == "" && g == "inline") || (tt.want != "" && g != tt.want) {
					t.Errorf("%s %v: served by %q, want %q", tt.path, tt.hdr, g, tt.want)
				}
			}
		}
	})
	t.Run("route without upstream, unknown id", func(t *testing.T) {
		p.Admin(t, "PUT", "/apisix/admin/routes/only", `{"uri":"/only","plugins":{"traffic-split":{"rules":[
			{"match":[{"vars":[["arg_u","==","gone"]]}],"weighted_upstreams":[{"upstream_id":"gone"}]},
			{"match":[{"vars":[["arg_u","==","own"]]}],"weighted_upstreams":[{"weight":1}]},
			{"weighted_upstreams":[{"upstream_id":"a"}]}]}}}`).WantStatus(201)
		served(t, p, "/only", "a")
		wantError(t, get(t, p, "/only?u=gone"), http.StatusInternalServerError)
		wantError(t, get(t, p, "/only?u=own"), http.StatusServiceUnavailable)
	})
}

// TestAPIBreaker opens the breaker against an upstream that fails on demand, and sees
// it close once the break is over and the upstream is well.
func TestAPIBreaker(t *testing.T) {
	t.Parallel()
	p := porticotest.Start(t)
	var failing atomic.Bool
	failing.Store(true)
	up := porticotest.NewUpstreamWith(t, "flaky", func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.Write([]byte("ok"))
	})
	p.Admin(t, "PUT", "/apisix/admin/routes/br", `{"uri":"/br","plugins":{"api-breaker":{
		"break_response_code":599,"break_response_body":"breaker open",
		"break_response_headers":[{"key":"X-Breaker","value":"$route_id"}],
		"unhealthy":{"failures":3},"healthy":{"successes":1}}},
		"upstream":{"nodes":{`+up.Node(1)+`}}}`).WantStatus(201)
	porticotest.Eventually(t, wait, "route /br served", func() bool { return get(t, p, "/br").Status == 500 })
	// the poll's 500s count; fail until the breaker opens
	porticotest.Eventually(t, wait, "breaker opens", func() bool { return get(t, p, "/br").Status == 599 })
	before := up.Count()
	r := get(t, p, "/br")
	r.WantStatus(599)
	if string(r.Body) != "breaker open" || r.Header.Get("X-Breaker") != "br" {
		t.Errorf("break answer %q, X-Breaker %q", r.Body, r.Header.Get("X-Breaker"))
	}
	if n := up.Count(); n != before {
		t.Errorf("upstream got %d requests while the breaker was open", n-before)
	}
	failing.Store(false)
	// the break lasts 2 s (2^1); then the upstream is asked again and one 200 closes it
	porticotest.Eventually(t, wait, "breaker closes", func() bool { return get(t, p, "/br").Status == 200 })
	for range 5 {
		get(t, p, "/br").WantStatus(200)
	}
}

// TestProxyMirror: a POST's copy reaches the mirror, which holds it until the test
// ends; the client has had its answer from the real upstream before that.
func TestProxyMirror(t *testing.T) {
	t.Parallel()
	p := porticotest.Start(t)
	main := porticotest.NewUpstream(t, "main")
	arrived := make(chan porticotest.Seen, 1)
	release := make(chan struct{})
	mirror := porticotest.NewUpstreamWith(t, "mirror", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			return // the warm-up's copies
		}
		arrived <- porticotest.Seen{Method: r.Method, URI: r.RequestURI, Header: r.Header}
		<-release // a POST's copy is answered only when the test ends
	})
	defer close(release)
	p.Admin(t, "PUT", "/apisix/admin/routes/mi", `{"uri":"/mi/*","plugins":{"proxy-mirror":{
		"host":"http://`+mirror.Addr+`","path":"/copy","path_concat_mode":"prefix"}},
		"upstream":{"nodes":{`+main.Node(1)+`}}}`).WantStatus(201)
	served(t, p, "/mi/warm", "main")
	porticotest.Eventually(t, wait, "warm-up mirrored", func() bool { return mirror.Count() > 0 })

	req, _ := http.NewRequest("POST", p.ProxyURL+"/mi/x?y=1", strings.NewReader("payload"))
	req.Header.Set("X-Trace", "t-1")
	r := p.Do(t, req)
	r.WantStatus(200)
	if s := seen(t, r); s.Body != "payload" || s.URI != "/mi/x?y=1" || from(r) != "main" {
		t.Errorf("upstream got %+v", s)
	}
	// the answer is here; the copy arrives (or arrived) and stays held
	var copy porticotest.Seen
	select {
	case copy = <-arrived:
	case <-time.After(wait):
		t.Fatal("the mirror never got the POST's copy")
	}
	if copy.URI != "/copy/mi/x?y=1" || copy.Header.Get("X-Trace") != "t-1" {
		t.Errorf("mirror got %+v", copy)
	}
	var body string
	for _, s := range mirror.Requests() {
		if s.Method == http.MethodPost {
			body = s.Body
		}
	}
	if body != "payload" {
		t.Errorf("mirror body = %q, want payload", body)
	}
	// a second POST while the first copy is still held: answered all the same
	req, _ = http.NewRequest("POST", p.ProxyURL+"/mi/z", strings.NewReader("again"))
	p.Do(t, req).WantStatus(200)
}
