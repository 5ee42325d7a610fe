package router

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
)

func r(id string, uris ...string) Route { return Route{ID: id, URIs: uris} }

func (rt Route) prio(n int) Route             { rt.Priority = n; return rt }
func (rt Route) hosts(h ...string) Route      { rt.Hosts = h; return rt }
func (rt Route) methods(m ...string) Route    { rt.Methods = m; return rt }
func (rt Route) match(f func(any) bool) Route { rt.Match = f; return rt }
func (rt Route) addrs(cidrs ...string) Route {
	for _, c := range cidrs {
		rt.RemoteAddrs = append(rt.RemoteAddrs, netip.MustParsePrefix(c))
	}
	return rt
}

// req builds a GET from 192.0.2.1 to host "example.org"; "host:port" sets RawHost.
func req(path string) Request {
	return Request{Method: "GET", Host: "example.org", RawHost: "example.org", Path: path,
		RemoteAddr: netip.MustParseAddr("192.0.2.1")}
}

func (q Request) host(raw string) Request {
	q.RawHost = raw
	q.Host = strings.ToLower(raw)
	if i := strings.LastIndexByte(q.Host, ':'); i >= 0 && !strings.HasSuffix(q.Host, "]") {
		q.Host = q.Host[:i]
	}
	return q
}
func (q Request) method(m string) Request { q.Method = m; return q }
func (q Request) from(a string) Request {
	q.RemoteAddr = netip.Addr{}
	if a != "" {
		q.RemoteAddr = netip.MustParseAddr(a)
	}
	return q
}

var (
	never  = func(any) bool { return false }
	always = func(any) bool { return true }
	isYes  = func(arg any) bool { return arg == "yes" }
)

func TestMatch(t *testing.T) {
	tests := []struct {
		name    string
		routes  []Route
		req     Request
		arg     any
		want    string      // route ID; "" for no match
		params  [][2]string // captures in order
		pattern string      // Params.Pattern; defaults to the only URI of the winner
		host    string      // Params.Host
	}{
		// exact vs prefix, prefix length, priority, ties
		{name: "exact beats prefix of higher priority",
			routes: []Route{r("p", "/foo/*").prio(100), r("e", "/foo/bar")},
			req:    req("/foo/bar"), want: "e"},
		{name: "exact beats param route",
			routes: []Route{r("p", "/users/:id").prio(100), r("e", "/users/me")},
			req:    req("/users/me"), want: "e"},
		{name: "longest prefix beats priority",
			routes: []Route{r("short", "/foo/*").prio(100), r("long", "/foo/bar/*")},
			req:    req("/foo/bar/x"), want: "long", params: [][2]string{{":ext", "x"}}},
		{name: "same key: priority",
			routes: []Route{r("lo", "/foo/*").prio(1), r("hi", "/foo/*").prio(5), r("mid", "/foo/*").prio(3)},
			req:    req("/foo/x"), want: "hi", params: [][2]string{{":ext", "x"}}},
		{name: "same key and priority: longer pattern",
			routes: []Route{r("star", "/foo/*"), r("param", "/foo/:id")},
			req:    req("/foo/x"), want: "param", params: [][2]string{{"id", "x"}}},
		{name: "same key, priority and length: input order",
			routes: []Route{r("first", "/foo/*"), r("second", "/foo/*")},
			req:    req("/foo/x"), want: "first", params: [][2]string{{":ext", "x"}}},
		{name: "same exact path: priority then input order",
			routes: []Route{r("a", "/x"), r("b", "/x").prio(2), r("c", "/x").prio(2)},
			req:    req("/x"), want: "b"},

		// prefix semantics
		{name: "/foo* matches /foo", routes: []Route{r("a", "/foo*")}, req: req("/foo"), want: "a"},
		{name: "/foo* matches /foobar", routes: []Route{r("a", "/foo*")}, req: req("/foobar"), want: "a"},
		{name: "/foo* matches /foo/x", routes: []Route{r("a", "/foo*")}, req: req("/foo/x"), want: "a"},
		{name: "/foo/* matches /foo/ with empty ext",
			routes: []Route{r("a", "/foo/*")}, req: req("/foo/"), want: "a", params: [][2]string{{":ext", ""}}},
		{name: "/foo/* does not match /foo", routes: []Route{r("a", "/foo/*")}, req: req("/foo")},
		{name: "/* matches everything",
			routes: []Route{r("a", "/*")}, req: req("/a/b"), want: "a", params: [][2]string{{":ext", "a/b"}}},
		{name: "':' inside a segment only cuts the key",
			routes: []Route{r("a", "/a:b")}, req: req("/axyz/1"), want: "a"},
		{name: "exact needs the whole path", routes: []Route{r("a", "/foo")}, req: req("/foo/")},

		// parameters
		{name: ":id captured",
			routes: []Route{r("a", "/users/:id")}, req: req("/users/42"), want: "a",
			params: [][2]string{{"id", "42"}}},
		{name: ":id does not span segments",
			routes: []Route{r("a", "/users/:id")}, req: req("/users/42/x")},
		{name: ":id must not be empty",
			routes: []Route{r("a", "/users/:id/posts")}, req: req("/users//posts")},
		{name: "two params and a literal",
			routes: []Route{r("a", "/users/:uid/posts/:pid")}, req: req("/users/7/posts/99"), want: "a",
			params: [][2]string{{"uid", "7"}, {"pid", "99"}}},
		{name: "*rest captures the rest with slashes",
			routes: []Route{r("a", "/files/*path")}, req: req("/files/a/b/c.txt"), want: "a",
			params: [][2]string{{"path", "a/b/c.txt"}}},
		{name: "*rest may be empty",
			routes: []Route{r("a", "/files/*path")}, req: req("/files/"), want: "a",
			params: [][2]string{{"path", ""}}},
		{name: "param then trailing *",
			routes: []Route{r("a", "/u/:id/*")}, req: req("/u/5/x/y"), want: "a",
			params: [][2]string{{"id", "5"}, {":ext", "x/y"}}},
		{name: "star inside the pattern is greedy",
			routes: []Route{r("a", "/a/*mid/b")}, req: req("/a/1/b/2/b"), want: "a",
			params: [][2]string{{"mid", "1/b/2"}}},
		{name: "trailing slash in the pattern is required",
			routes: []Route{r("a", "/u/:id/")}, req: req("/u/5")},
		{name: "param route failing its pattern falls through to a shorter prefix",
			routes: []Route{r("posts", "/users/:id/posts"), r("any", "/users/*")},
			req:    req("/users/1/comments"), want: "any", params: [][2]string{{":ext", "1/comments"}}},
		{name: "repeated name: Get returns the last",
			routes: []Route{r("a", "/:x/:x")}, req: req("/1/2"), want: "a",
			params: [][2]string{{"x", "1"}, {"x", "2"}}},

		// hosts
		{name: "host-bound beats host-less of higher priority and longer path",
			routes: []Route{r("free", "/foo/bar").prio(100), r("bound", "/*").hosts("example.org")},
			req:    req("/foo/bar"), want: "bound", params: [][2]string{{":ext", "foo/bar"}}, host: "example.org"},
		{name: "host-bound without a path match falls back to host-less",
			routes: []Route{r("bound", "/a").hosts("example.org"), r("free", "/b")},
			req:    req("/b"), want: "free"},
		{name: "other host's route is not a candidate",
			routes: []Route{r("bound", "/a").hosts("other.org")}, req: req("/a")},
		{name: "exact host beats wildcard host with a longer path",
			routes: []Route{r("wild", "/x").hosts("*.foo.com").prio(10), r("exact", "/*").hosts("a.foo.com")},
			req:    req("/x").host("a.foo.com"), want: "exact", params: [][2]string{{":ext", "x"}}, host: "a.foo.com"},
		{name: "exact host without a path match falls back to wildcard",
			routes: []Route{r("wild", "/x").hosts("*.foo.com"), r("exact", "/y").hosts("a.foo.com")},
			req:    req("/x").host("a.foo.com"), want: "wild", host: "*.foo.com"},
		{name: "longer wildcard suffix first",
			routes: []Route{r("short", "/x").hosts("*.foo.com"), r("long", "/*").hosts("*.a.foo.com")},
			req:    req("/x").host("b.a.foo.com"), want: "long", params: [][2]string{{":ext", "x"}}, host: "*.a.foo.com"},
		{name: "wildcard matches several labels",
			routes: []Route{r("w", "/x").hosts("*.foo.com")}, req: req("/x").host("a.b.foo.com"), want: "w", host: "*.foo.com"},
		{name: "wildcard does not match the apex",
			routes: []Route{r("w", "/x").hosts("*.foo.com")}, req: req("/x").host("foo.com")},
		{name: "bare * host matches any host, still before host-less",
			routes: []Route{r("free", "/x").prio(9), r("any", "/x").hosts("*")},
			req:    req("/x").host("whatever.net"), want: "any", host: "*"},
		{name: "hosts are case-insensitive",
			routes: []Route{r("a", "/x").hosts("Example.ORG")}, req: req("/x").host("EXAMPLE.org"), want: "a", host: "example.org"},
		{name: "host with port matches the raw Host header",
			routes: []Route{r("a", "/x").hosts("foo.com:8080")}, req: req("/x").host("Foo.com:8080"), want: "a", host: "foo.com:8080"},
		{name: "host with port needs that port",
			routes: []Route{r("a", "/x").hosts("foo.com:8080")}, req: req("/x").host("foo.com:9090")},
		{name: "host with port before the same host without",
			routes: []Route{r("plain", "/x").hosts("foo.com"), r("port", "/x").hosts("foo.com:8080")},
			req:    req("/x").host("foo.com:8080"), want: "port", host: "foo.com:8080"},
		{name: "host without port ignores the port",
			routes: []Route{r("plain", "/x").hosts("foo.com")}, req: req("/x").host("foo.com:8080"), want: "plain", host: "foo.com"},
		{name: "wildcard host with port",
			routes: []Route{r("a", "/x").hosts("*.foo.com:8443")}, req: req("/x").host("a.foo.com:8443"), want: "a", host: "*.foo.com:8443"},
		{name: "route with several hosts",
			routes: []Route{r("a", "/x").hosts("one.org", "*.two.org")}, req: req("/x").host("b.two.org"), want: "a", host: "*.two.org"},

		// methods
		{name: "method selects among routes on one path",
			routes: []Route{r("get", "/x").methods("GET"), r("post", "/x").methods("POST", "PUT")},
			req:    req("/x").method("PUT"), want: "post"},
		{name: "method mismatch: no match",
			routes: []Route{r("get", "/x").methods("GET")}, req: req("/x").method("DELETE")},
		{name: "unknown request method only matches routes without methods",
			routes: []Route{r("get", "/x").methods("GET").prio(1), r("any", "/x")},
			req:    req("/x").method("FOO"), want: "any"},
		{name: "method mismatch falls through to a shorter prefix",
			routes: []Route{r("post", "/a/*").methods("POST"), r("any", "/*")},
			req:    req("/a/b"), want: "any", params: [][2]string{{":ext", "a/b"}}},

		// remote_addrs
		{name: "remote_addrs in range",
			routes: []Route{r("lan", "/x").addrs("10.0.0.0/8").prio(1), r("any", "/x")},
			req:    req("/x").from("10.1.2.3"), want: "lan"},
		{name: "remote_addrs out of range",
			routes: []Route{r("lan", "/x").addrs("10.0.0.0/8").prio(1), r("any", "/x")},
			req:    req("/x").from("192.0.2.7"), want: "any"},
		{name: "remote_addrs single IP",
			routes: []Route{r("one", "/x").addrs("192.0.2.7/32")}, req: req("/x").from("192.0.2.7"), want: "one"},
		{name: "remote_addrs IPv4-mapped client",
			routes: []Route{r("lan", "/x").addrs("10.0.0.0/8")}, req: req("/x").from("::ffff:10.9.9.9"), want: "lan"},
		{name: "remote_addrs IPv6",
			routes: []Route{r("v6", "/x").addrs("2001:db8::/32")}, req: req("/x").from("2001:db8::1"), want: "v6"},
		{name: "remote_addrs with no client address",
			routes: []Route{r("lan", "/x").addrs("10.0.0.0/8")}, req: req("/x").from("")},

		// Match predicate
		{name: "Match false falls through to a shorter prefix",
			routes: []Route{r("api", "/api/*").match(never), r("root", "/*")},
			req:    req("/api/v1"), want: "root", params: [][2]string{{":ext", "api/v1"}}},
		{name: "Match false falls through to lower priority on the same key",
			routes: []Route{r("hi", "/api/:v").prio(5).match(never), r("lo", "/api/*")},
			req:    req("/api/v1"), want: "lo", params: [][2]string{{":ext", "v1"}}},
		{name: "Match false on the exact path falls through to a prefix",
			routes: []Route{r("exact", "/api").match(never), r("prefix", "/api*")},
			req:    req("/api"), want: "prefix"},
		{name: "Match false on the host-bound route falls back to host-less",
			routes: []Route{r("bound", "/x").hosts("example.org").match(never), r("free", "/x")},
			req:    req("/x"), want: "free"},
		{name: "Match true", routes: []Route{r("a", "/x").match(always)}, req: req("/x"), want: "a"},
		{name: "Match gets the arg",
			routes: []Route{r("yes", "/x").match(isYes).prio(1), r("other", "/x")},
			req:    req("/x"), arg: "yes", want: "yes"},
		{name: "Match gets the arg (no)",
			routes: []Route{r("yes", "/x").match(isYes).prio(1), r("other", "/x")},
			req:    req("/x"), arg: "no", want: "other"},

		// several URIs, no match
		{name: "multiple uris: second",
			routes: []Route{r("a", "/a", "/b/*")}, req: req("/b/c"), want: "a",
			params: [][2]string{{":ext", "c"}}, pattern: "/b/*"},
		{name: "multiple uris: first",
			routes: []Route{r("a", "/a", "/b/*")}, req: req("/a"), want: "a", pattern: "/a"},
		{name: "multiple uris, each ordered by its own key",
			routes: []Route{r("a", "/x/*", "/x/y/*"), r("b", "/x/y/*").prio(9)},
			req:    req("/x/y/z"), want: "b", params: [][2]string{{":ext", "z"}}},
		{name: "no match", routes: []Route{r("a", "/a"), r("b", "/b/*")}, req: req("/c")},
		{name: "no routes", req: req("/")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt, err := New(tt.routes)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			var p Params
			p.push("stale", "value") // Match must reset p
			got, ok := rt.Match(&tt.req, &p, tt.arg)
			if tt.want == "" {
				if ok {
					t.Fatalf("Match(%q) = %s, want no match", tt.req.Path, got.ID)
				}
				if p.Len() != 0 || p.Pattern() != "" {
					t.Errorf("no match left params %d, pattern %q", p.Len(), p.Pattern())
				}
				return
			}
			if !ok {
				t.Fatalf("Match(%q) = no match, want %s", tt.req.Path, tt.want)
			}
			if got.ID != tt.want {
				t.Fatalf("Match(%q) = %s, want %s", tt.req.Path, got.ID, tt.want)
			}
			var params [][2]string
			for i := range p.Len() {
				n, v := p.At(i)
				params = append(params, [2]string{n, v})
			}
			if !slices.Equal(params, tt.params) {
				t.Errorf("params = %q, want %q", params, tt.params)
			}
			if n := len(tt.params); n > 0 {
				if v, ok := p.Get(tt.params[n-1][0]); !ok || v != tt.params[n-1][1] {
					t.Errorf("Get(%q) = %q, %v", tt.params[n-1][0], v, ok)
				}
			}
			want := tt.pattern
			if want == "" {
				want = got.URIs[0]
			}
			if p.Pattern() != want {
				t.Errorf("Pattern() = %q, want %q", p.Pattern(), want)
			}
			if p.Host() != tt.host {
				t.Errorf("Host() = %q, want %q", p.Host(), tt.host)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name  string
		route Route
		want  string // substring of the error
	}{
		{"empty pattern", r("r1", "/ok", ""), `route r1: uri ""`},
		{"too many params", r("r2", "/"+strings.Repeat(":p/", 17)), `route r2: uri "/:p/`},
		{"no uris", r("r3"), "route r3: no uris"},
		{"unknown method", r("r4", "/").methods("get"), `route r4: unknown method "get"`},
		{"empty host", r("r5", "/").hosts(""), `route r5: host ""`},
		{"star inside host", r("r6", "/").hosts("a.*.com"), `route r6: host "a.*.com"`},
		{"invalid prefix", Route{ID: "r7", URIs: []string{"/"}, RemoteAddrs: []netip.Prefix{{}}}, "route r7: remote_addrs[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New([]Route{r("fine", "/"), tt.route})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New() error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestLenAndNilParams(t *testing.T) {
	rt, err := New([]Route{r("a", "/a/:x"), r("b", "/b")})
	if err != nil {
		t.Fatal(err)
	}
	if rt.Len() != 2 {
		t.Errorf("Len() = %d, want 2", rt.Len())
	}
	q := req("/a/1")
	if got, ok := rt.Match(&q, nil, nil); !ok || got.ID != "a" {
		t.Errorf("Match with nil Params = %v, %v", got, ok)
	}
}

// TestRoutesCopied: changing the caller's slice after New changes nothing.
func TestRoutesCopied(t *testing.T) {
	routes := []Route{r("a", "/a")}
	rt, err := New(routes)
	if err != nil {
		t.Fatal(err)
	}
	routes[0].ID = "changed"
	q := req("/a")
	if got, _ := rt.Match(&q, nil, nil); got.ID != "a" {
		t.Errorf("ID = %q, want a", got.ID)
	}
}

func TestMatch_hammer(t *testing.T) {
	rt, err := New(benchRoutes(200))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var p Params
			for i := range 2000 {
				svc := (g*2000 + i) % 200
				q := req(fmt.Sprintf("/api/v1/svc%d/items/%d", svc, i))
				got, ok := rt.Match(&q, &p, nil)
				if !ok || got.ID != fmt.Sprintf("svc%d-items-id", svc) {
					t.Errorf("Match(%q) = %v, %v", q.Path, got, ok)
					return
				}
				if v, _ := p.Get("id"); v != fmt.Sprint(i) {
					t.Errorf("id = %q, want %d", v, i)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestMatchAllocs(t *testing.T) {
	rt, err := New(append(benchRoutes(100), r("mid", "/m/*x/n/:y")))
	if err != nil {
		t.Fatal(err)
	}
	var p Params
	for _, path := range []string{"/api/v1/svc7/items", "/api/v1/svc7/items/9/reviews/3",
		"/api/v1/svc7/files/a/b", "/m/1/n/2/n/3", "/nope"} {
		q := req(path)
		if n := testing.AllocsPerRun(100, func() { rt.Match(&q, &p, nil) }); n != 0 {
			t.Errorf("Match(%q): %v allocs, want 0", path, n)
		}
	}
}

// TestStarBacktrackingBounded: stars inside a pattern cannot make one request cost more
// than maxStarTries attempts, whatever the path.
func TestStarBacktrackingBounded(t *testing.T) {
	const raw = "/s/*a/x/*b/x/*c/x/*d/y"
	rt, err := New([]Route{r("many", raw)})
	if err != nil {
		t.Fatal(err)
	}
	q := req("/s" + strings.Repeat("/x", 2000) + "/z")
	if _, ok := rt.Match(&q, nil, nil); ok {
		t.Error("matched a path without /y")
	}
	// Count the attempts: this path has ~2000⁴ ways to place the stars, so the search
	// must stop on the budget, and once spent each of the 4 stars takes at most one
	// more (refused) attempt on its way out.
	pt, err := compile(raw)
	if err != nil {
		t.Fatal(err)
	}
	var p Params
	budget := maxStarTries
	if matchFrom(pt.toks, q.Path, &p, &budget) {
		t.Error("matchFrom matched a path without /y")
	}
	if tries := maxStarTries - budget; budget >= 0 || tries > maxStarTries+4 {
		t.Errorf("%d attempts (budget left %d), want the search cut at maxStarTries = %d", tries, budget, maxStarTries)
	}
	q = req("/s/1/x/2/x/3/x/4/y")
	if got, ok := rt.Match(&q, nil, nil); !ok || got.ID != "many" {
		t.Errorf("Match(%q) = %v, %v", q.Path, got, ok)
	}
}

func FuzzMatch(f *testing.F) {
	base := []Route{
		r("exact", "/a/b"),
		r("prefix", "/a/*").prio(3),
		r("param", "/a/:x/c/:y"),
		r("rest", "/f/*rest"),
		r("mid", "/m/*x/n/:y"),
		r("glob", "/g*"),
		r("host", "/*").hosts("*.h.org", "h.org:8080"),
		r("meth", "/p/:q").methods("POST"),
		r("ip", "/ip").addrs("10.0.0.0/8"),
	}
	f.Add("/x/:y/*", "/a/b", "a.h.org", "GET")
	f.Add("/m/*/n/*", "/m/1/n/2/n/3", "h.org:8080", "POST")
	f.Add("*", "", "", "")
	f.Add(":", "/a//c/", "H.ORG", "PURGE")
	f.Fuzz(func(t *testing.T, pat, path, host, method string) {
		rt, err := New(append(slices.Clone(base), r("fuzz", pat)))
		if err != nil { // an invalid pattern: match against the base routes
			if rt, err = New(base); err != nil {
				t.Fatal(err)
			}
		}
		q := Request{Method: method, Host: strings.ToLower(host), RawHost: host, Path: path,
			RemoteAddr: netip.MustParseAddr("10.0.0.1")}
		var p Params
		got, ok := rt.Match(&q, &p, nil)
		if !ok {
			if p.Len() != 0 || p.Pattern() != "" {
				t.Fatalf("no match but params %d, pattern %q", p.Len(), p.Pattern())
			}
			return
		}
		if !slices.Contains(got.URIs, p.Pattern()) {
			t.Fatalf("pattern %q is not one of %s's %q", p.Pattern(), got.ID, got.URIs)
		}
		key := p.Pattern()
		if i := strings.IndexAny(key, ":*"); i >= 0 {
			key = key[:i]
		} else if key != path {
			t.Fatalf("exact pattern %q matched path %q", key, path)
		}
		if !strings.HasPrefix(path, key) {
			t.Fatalf("pattern %q matched path %q without its prefix", p.Pattern(), path)
		}
		for i := range p.Len() {
			_, v := p.At(i)
			if !strings.Contains(path, v) {
				t.Fatalf("capture %q is not in path %q", v, path)
			}
		}
	})
}

// benchRoutes is svcs services with 10 routes each, half static, half with parameters,
// some bound to methods: /api/v1/svc123/items, /api/v1/svc123/items/:id, ...
func benchRoutes(svcs int) []Route {
	routes := make([]Route, 0, svcs*10)
	for s := range svcs {
		pre := fmt.Sprintf("/api/v1/svc%d", s)
		id := fmt.Sprintf("svc%d-", s)
		routes = append(routes,
			r(id+"items", pre+"/items").methods("GET", "POST"),
			r(id+"orders", pre+"/orders"),
			r(id+"users", pre+"/users").methods("GET"),
			r(id+"health", pre+"/health"),
			r(id+"metrics", pre+"/metrics"),
			r(id+"items-id", pre+"/items/:id"),
			r(id+"orders-id", pre+"/orders/:id").methods("GET", "PUT", "DELETE"),
			r(id+"users-profile", pre+"/users/:id/profile"),
			r(id+"reviews", pre+"/items/:id/reviews/:rid"),
			r(id+"files", pre+"/files/*path"),
		)
	}
	return routes
}

func benchRequests(paths ...string) []Request {
	var qs []Request
	for s := 0; s < 1000; s += 37 {
		for _, p := range paths {
			qs = append(qs, req(fmt.Sprintf(p, s)))
		}
	}
	return qs
}

func benchMatch(b *testing.B, qs []Request, want func(*Route) bool) {
	rt, err := New(benchRoutes(1000))
	if err != nil {
		b.Fatal(err)
	}
	if rt.Len() != 10000 {
		b.Fatalf("Len() = %d", rt.Len())
	}
	var p Params
	for i := range qs {
		if got, ok := rt.Match(&qs[i], &p, nil); !ok || !want(got) {
			b.Fatalf("Match(%q) = %v, %v", qs[i].Path, got, ok)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		rt.Match(&qs[i%len(qs)], &p, nil)
	}
}

func BenchmarkMatchStatic10k(b *testing.B) {
	qs := benchRequests("/api/v1/svc%d/items", "/api/v1/svc%d/orders", "/api/v1/svc%d/metrics")
	benchMatch(b, qs, func(rt *Route) bool { return !strings.Contains(rt.URIs[0], ":") })
}

func BenchmarkMatchParam10k(b *testing.B) {
	qs := benchRequests("/api/v1/svc%d/items/12345", "/api/v1/svc%d/users/u-77/profile",
		"/api/v1/svc%d/items/9/reviews/3")
	benchMatch(b, qs, func(rt *Route) bool { return strings.Contains(rt.URIs[0], ":") })
}
