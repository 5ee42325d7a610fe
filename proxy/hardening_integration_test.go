package proxy_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/porticotest"
)

// Request hardening (issue 11 item 2), each case against the real binary. The cases
// come from other gateways' CVEs: see cluster-security-reliability.md §3.

// rawUpstream is an HTTP server that keeps every byte it read, to see what the gateway
// put on the wire (a Go server would hide a second Content-Length or a split header).
type rawUpstream struct {
	Addr string
	n    atomic.Int64
	mu   sync.Mutex
	raw  bytes.Buffer
}

func newRawUpstream(t *testing.T) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{Addr: ln.Addr().String()}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		u.n.Add(1)
		w.Header().Set("X-Upstream", "raw")
		io.WriteString(w, "ok")
	})}
	go srv.Serve(tapListener{ln, u})
	t.Cleanup(func() { srv.Close() })
	return u
}

func (u *rawUpstream) Node() string { return `"` + u.Addr + `":1` }

// Wire is everything read so far.
func (u *rawUpstream) Wire() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.raw.String()
}

type tapListener struct {
	net.Listener
	u *rawUpstream
}

func (l tapListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return tapConn{c, l.u}, nil
}

type tapConn struct {
	net.Conn
	u *rawUpstream
}

func (c tapConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.u.mu.Lock()
	c.u.raw.Write(p[:n])
	c.u.mu.Unlock()
	return n, err
}

// rawResp is one response read off the wire.
type rawResp struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r *rawResp) String() string { return fmt.Sprintf("%d %s", r.Status, r.Body) }

// rawResponses writes raw on a new connection and reads responses until the server
// closes it or max responses came.
func rawResponses(t *testing.T, addr, raw string, max int) []*rawResp {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(wait))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatalf("write: %v", err)
	}
	br := bufio.NewReader(c)
	method, _, _ := strings.Cut(raw, " ")
	var out []*rawResp
	for len(out) < max {
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("no response and no close within %v", wait)
			}
			break
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out = append(out, &rawResp{Status: resp.StatusCode, Header: resp.Header, Body: b})
	}
	return out
}

// chunked encodes body as one chunk and the last chunk.
func chunked(body string) string {
	return fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(body), body)
}

// TestContentLengthAndTransferEncoding: a request with both headers (CL.TE smuggling).
// Portico's HTTP/1.1 server (proxy/h1, the default) refuses it with 400 and closes the
// connection. Go's server (proxy.http1: net/http) does not (RFC 9112 §6.3 allows either):
// Transfer-Encoding wins and Content-Length is dropped before the handler sees the
// request. What must hold with both: the upstream gets one framing only, and bytes after
// the chunked body are never passed on raw.
func TestContentLengthAndTransferEncoding(t *testing.T) {
	t.Parallel()
	for _, server := range []string{"portico", "net/http"} {
		t.Run(server, func(t *testing.T) {
			p := porticotest.Start(t, porticotest.Options{ProxyConfig: "http1: " + server})
			clte(t, p, server == "portico")
		})
	}
}

func clte(t *testing.T, p *porticotest.Portico, refuse bool) {
	up := newRawUpstream(t)
	secret := porticotest.NewUpstream(t, "secret")
	p.Admin(t, "PUT", "/apisix/admin/routes/1", `{"uri":"/s/*","upstream":{"nodes":{`+up.Node()+`}}}`).WantStatus(201)
	p.Admin(t, "PUT", "/apisix/admin/routes/2", `{"uri":"/admin/*","plugins":{"key-auth":{}},"upstream":{"nodes":{`+secret.Node(1)+`}}}`).WantStatus(201)
	served(t, p, "/s/x", "raw")
	before := up.n.Load()
	smuggled := "GET /admin/x HTTP/1.1\r\nHost: x\r\n\r\n"
	rs := rawResponses(t, p.ProxyAddr(), "POST /s/x HTTP/1.1\r\nHost: x\r\n"+
		"Content-Length: 3\r\n"+
		"Transfer-Encoding: chunked\r\n\r\n"+
		chunked("hello")+smuggled, 2)
	if len(rs) == 0 {
		t.Fatal("no response")
	}
	t.Logf("CL and TE: %d responses, first %d", len(rs), rs[0].Status)
	switch {
	case refuse && (rs[0].Status != http.StatusBadRequest || len(rs) != 1):
		t.Errorf("CL and TE: %d responses, first %d; want one 400 and the connection closed", len(rs), rs[0].Status)
	case rs[0].Status == http.StatusBadRequest:
		if up.n.Load() != before {
			t.Errorf("refused with 400, but the upstream got the request")
		}
	case rs[0].Status == http.StatusOK:
		// Go 1.26: Transfer-Encoding wins
		wire := up.Wire()
		head, body, _ := strings.Cut(wire[strings.LastIndex(wire, "POST /s/x "):], "\r\n\r\n")
		hasCL := strings.Contains(strings.ToLower(head), "\r\ncontent-length:")
		hasTE := strings.Contains(strings.ToLower(head), "\r\ntransfer-encoding:")
		if hasCL == hasTE {
			t.Errorf("the upstream request has Content-Length %v and Transfer-Encoding %v, want exactly one:\n%s", hasCL, hasTE, head)
		}
		if !strings.Contains(body, "hello") {
			t.Errorf("the upstream did not get the whole chunked body: %q", body)
		}
		if strings.Contains(wire, "GET /admin/x") {
			t.Errorf("the bytes after the chunked body reached the upstream raw:\n%s", wire)
		}
	default:
		t.Errorf("status %d, want 400 or 200; body %s", rs[0].Status, rs[0].Body)
	}
	if len(rs) == 2 && rs[1].Status != http.StatusUnauthorized {
		t.Errorf("the request after the body: status %d, want 401 (key-auth ran)", rs[1].Status)
	}
	if n := secret.Count(); n != 0 {
		t.Errorf("the protected upstream got %d requests", n)
	}

	// the variants both servers refuse outright
	for _, tt := range []struct{ name, head string }{
		{"two different Content-Length", "Content-Length: 5\r\nContent-Length: 6\r\n"},
		{"space before the colon", "Transfer-Encoding : chunked\r\n"},
		{"unknown coding", "Transfer-Encoding: xchunked\r\n"},
		{"chunked, identity", "Transfer-Encoding: chunked, identity\r\n"},
	} {
		before := up.n.Load()
		rs := rawResponses(t, p.ProxyAddr(), "POST /s/x HTTP/1.1\r\nHost: x\r\n"+tt.head+"\r\n"+chunked("hello"), 1)
		if len(rs) != 1 || rs[0].Status < 400 || rs[0].Status >= 600 {
			t.Errorf("%s: %v, want a 4xx/501", tt.name, rs)
		}
		if up.n.Load() != before {
			t.Errorf("%s: the upstream got the request", tt.name)
		}
	}
}

// TestHeaderLimits: header bytes past proxy.max_header_bytes get 431 and never reach
// the upstream; a slow header (slowloris) is cut by proxy.read_header_timeout.
func TestHeaderLimits(t *testing.T) {
	t.Parallel()
	p := porticotest.Start(t, porticotest.Options{ProxyConfig: "max_header_bytes: 4096\nread_header_timeout: 0.3"})
	up := porticotest.NewUpstream(t, "a")
	p.Admin(t, "PUT", "/apisix/admin/routes/1", `{"uri":"/*","upstream":{"nodes":{`+up.Node(1)+`}}}`).WantStatus(201)
	served(t, p, "/x", "a")

	t.Run("431", func(t *testing.T) {
		get(t, p, "/x", "X-Small", strings.Repeat("a", 2<<10)).WantStatus(200)
		n := up.Count()
		get(t, p, "/x", "X-Big", strings.Repeat("a", 16<<10)).WantStatus(http.StatusRequestHeaderFieldsTooLarge)
		var many strings.Builder
		for i := range 1000 {
			fmt.Fprintf(&many, "X-H%d: v\r\n", i)
		}
		rs := rawResponses(t, p.ProxyAddr(), "GET /x HTTP/1.1\r\nHost: x\r\n"+many.String()+"\r\n", 1)
		if len(rs) != 1 || rs[0].Status != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("1000 small headers: %v, want 431", rs)
		}
		if up.Count() != n {
			t.Errorf("an oversized header reached the upstream")
		}
	})

	t.Run("slowloris", func(t *testing.T) {
		c, err := net.Dial("tcp", p.ProxyAddr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET /x HTTP/1.1\r\nHost: x\r\nX-Slow: ")
		stop := make(chan struct{})
		trickled := make(chan int)
		go func() {
			// one byte every 20ms: each arrives well within any per-read timeout,
			// the header is never finished
			n := 0
			defer func() { trickled <- n }()
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if _, err := c.Write([]byte("a")); err != nil {
						return
					}
					n++
				}
			}
		}()
		c.SetReadDeadline(time.Now().Add(wait)) // a failsafe, not the bound under test
		got, err := io.ReadAll(c)
		close(stop)
		n := <-trickled
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("a header trickled for %v (%d bytes) was not cut: no read_header_timeout", wait, n)
		}
		t.Logf("cut after %d trickled bytes; the server wrote %q", n, got)
		// closed by the server: a plain close, or a 408 and a close
		if len(got) > 0 && !bytes.HasPrefix(got, []byte("HTTP/1.1 408")) {
			t.Errorf("the server answered %q, want a close or a 408", got)
		}
		if up.Count() == 0 {
			t.Fatal("no request served at all")
		}
		get(t, p, "/x").WantStatus(200) // the listener still serves others
	})
}

// TestBodySizeLimits: proxy.max_body_size for every request, client-control per route.
func TestBodySizeLimits(t *testing.T) {
	t.Parallel()
	p := porticotest.Start(t, porticotest.Options{ProxyConfig: "max_body_size: 1024"})
	up := porticotest.NewUpstream(t, "a")
	p.Admin(t, "PUT", "/apisix/admin/routes/1", `{"uri":"/g/*","upstream":{"nodes":{`+up.Node(1)+`}}}`).WantStatus(201)
	p.Admin(t, "PUT", "/apisix/admin/routes/2", `{"uri":"/r/*","plugins":{"client-control":{"max_body_size":16}},"upstream":{"nodes":{`+up.Node(1)+`}}}`).WantStatus(201)
	p.Admin(t, "PUT", "/apisix/admin/routes/3", `{"uri":"/z/*","plugins":{"client-control":{"max_body_size":0}},"upstream":{"nodes":{`+up.Node(1)+`}}}`).WantStatus(201)
	p.Admin(t, "PUT", "/apisix/admin/routes/4", `{"uri":"/bad/*","plugins":{"client-control":{"max_body_size":-1}},"upstream":{"nodes":{`+up.Node(1)+`}}}`).WantStatus(400)
	served(t, p, "/g/x", "a")
	served(t, p, "/r/x", "a")
	served(t, p, "/z/x", "a")

	withLength := func(path string, n int) string {
		return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", path, n, strings.Repeat("b", n))
	}
	withChunks := func(path string, n int) string {
		return "POST " + path + " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunked(strings.Repeat("b", n))
	}
	tests := []struct {
		name    string
		raw     string
		want    int
		reaches bool // the upstream gets a complete request
	}{
		{"global: length at the limit", withLength("/g/x", 1024), 200, true},
		{"global: length over the limit", withLength("/g/x", 1025), 413, false},
		{"global: length over, no route", withLength("/nowhere", 2000), 413, false},
		{"global: chunked under", withChunks("/g/x", 1000), 200, true},
		{"global: chunked over", withChunks("/g/x", 3000), 413, false},
		{"route: length at the limit", withLength("/r/x", 16), 200, true},
		{"route: length over the limit", withLength("/r/x", 17), 413, false},
		{"route: chunked under", withChunks("/r/x", 10), 200, true},
		{"route: chunked over", withChunks("/r/x", 100), 413, false},
		{"route 0 does not lift the global limit", withLength("/z/x", 1025), 413, false},
		{"route 0: chunked over the global limit", withChunks("/z/x", 3000), 413, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(up.Requests())
			rs := rawResponses(t, p.ProxyAddr(), tt.raw, 1)
			if len(rs) != 1 {
				t.Fatal("no response")
			}
			r := rs[0]
			if r.Status != tt.want {
				t.Errorf("status %d, want %d; body %s", r.Status, tt.want, r.Body)
			}
			if tt.want == 413 {
				if string(r.Body) != `{"error_msg":"413 Request Entity Too Large"}`+"\n" {
					t.Errorf("413 body = %q", r.Body)
				}
			}
			_, body, _ := strings.Cut(tt.raw, "\r\n\r\n")
			if strings.Contains(tt.raw, "chunked") {
				body = strings.Split(body, "\r\n")[1]
			}
			complete := false
			for _, s := range up.Requests()[before:] {
				if s.Body == body {
					complete = true
				}
			}
			if complete != tt.reaches {
				t.Errorf("the upstream got the complete request: %v, want %v", complete, tt.reaches)
			}
		})
	}
}

// TestCRLFInInterpolatedHeader: a CR or LF that a variable brings into a header value
// (proxy-rewrite with $arg_x) is never written to the upstream: no header is split.
func TestCRLFInInterpolatedHeader(t *testing.T) {
	t.Parallel()
	p := porticotest.Start(t)
	up := newRawUpstream(t)
	p.Admin(t, "PUT", "/apisix/admin/routes/1", `{"uri":"/crlf","plugins":{"proxy-rewrite":{"headers":{"set":{"X-Echo":"v=$arg_x"},"add":{"X-Add":"$arg_x"}}}},"upstream":{"nodes":{`+up.Node()+`}}}`).WantStatus(201)
	served(t, p, "/crlf?x=ok", "raw")
	if !strings.Contains(up.Wire(), "X-Echo: v=ok\r\n") {
		t.Fatalf("proxy-rewrite did not set X-Echo:\n%s", up.Wire())
	}
	for _, x := range []string{"a%0D%0AX-Injected:%20yes", "a%0AX-Injected:%20yes", "a%0DX-Injected:%20yes", "a%0D%0A%0D%0AGET%20/x%20HTTP/1.1%0D%0AX-Injected:%20yes"} {
		r := get(t, p, "/crlf?x="+x)
		if r.Status != 200 && (r.Status < 400 || r.Status >= 500) {
			t.Errorf("x=%s: status %d, want 200 or a 4xx", x, r.Status)
		}
	}
	wire := up.Wire()
	if strings.Contains(strings.ToLower(wire), "\nx-injected") || strings.Contains(wire, "\rX-Injected") {
		t.Errorf("a header was split on the upstream wire:\n%s", wire)
	}
	if strings.Count(wire, "GET /x ") != 0 {
		t.Errorf("a request was injected on the upstream wire:\n%s", wire)
	}
}

// TestAbsoluteURIAndHost: `GET http://a.example/x` with `Host: b.example`. Go takes the
// URL's host (RFC 9112 §3.2.2); routing, X-Forwarded-Host and the Host the upstream gets
// (pass_host pass) must all use that one value.
func TestAbsoluteURIAndHost(t *testing.T) {
	t.Parallel()
	p := porticotest.Start(t)
	a := porticotest.NewUpstream(t, "a")
	b := porticotest.NewUpstream(t, "b")
	p.Admin(t, "PUT", "/apisix/admin/routes/a", `{"uri":"/x","host":"a.example","upstream":{"nodes":{`+a.Node(1)+`}}}`).WantStatus(201)
	p.Admin(t, "PUT", "/apisix/admin/routes/b", `{"uri":"/x","host":"b.example","upstream":{"nodes":{`+b.Node(1)+`}}}`).WantStatus(201)
	served(t, p, "/x", "a", "Host", "a.example")
	served(t, p, "/x", "b", "Host", "b.example")
	for _, tt := range []struct{ target, host, want string }{
		{"http://a.example/x", "b.example", "a"},
		{"http://b.example/x", "a.example", "b"},
		{"http://A.EXAMPLE/x", "b.example", "a"},
		{"http://a.example:8080/x", "b.example", "a"},
	} {
		r := porticotest.Raw(t, p.ProxyAddr(), "GET "+tt.target+" HTTP/1.1\r\nHost: "+tt.host+"\r\nConnection: close\r\n\r\n")
		if r.Status != 200 || from(r) != tt.want {
			t.Errorf("GET %s, Host %s: status %d from %q, want 200 from %q", tt.target, tt.host, r.Status, from(r), tt.want)
			continue
		}
		s := seen(t, r)
		wantHost := strings.TrimPrefix(tt.target, "http://")
		wantHost = wantHost[:strings.IndexByte(wantHost, '/')]
		if s.Host != wantHost {
			t.Errorf("GET %s, Host %s: the upstream saw Host %q, want %q (the host that chose the route)", tt.target, tt.host, s.Host, wantHost)
		}
		if got, want := s.Header.Get("X-Forwarded-Host"), strings.ToLower(strings.Split(wantHost, ":")[0]); got != want {
			t.Errorf("GET %s: X-Forwarded-Host %q, want %q", tt.target, got, want)
		}
		if s.URI != "/x" {
			t.Errorf("GET %s: the upstream saw %q, want origin-form /x", tt.target, s.URI)
		}
	}
}

// TestPathTricksCannotBypass: encodings, dot segments, doubled slashes, NUL and case
// reach neither a path a uri-blocker refuses nor a key-auth route without a key (APISIX
// CVE-2021-43557, Envoy CVE-2019-9901 and CVE-2021-29492, Traefik CVE-2025-32431).
func TestPathTricksCannotBypass(t *testing.T) {
	t.Parallel()
	p := porticotest.Start(t)
	open := porticotest.NewUpstream(t, "open")
	secret := porticotest.NewUpstream(t, "secret")
	blocked := porticotest.NewUpstream(t, "blocked")
	p.Admin(t, "PUT", "/apisix/admin/consumers", `{"username":"jack","plugins":{"key-auth":{"key":"jack-key-1"}}}`).WantStatus(201)
	p.Admin(t, "PUT", "/apisix/admin/routes/admin", `{"uri":"/admin/*","plugins":{"key-auth":{}},"upstream":{"nodes":{`+secret.Node(1)+`}}}`).WantStatus(201)
	p.Admin(t, "PUT", "/apisix/admin/routes/public", `{"uri":"/public/*","upstream":{"nodes":{`+open.Node(1)+`}}}`).WantStatus(201)
	p.Admin(t, "PUT", "/apisix/admin/routes/b", `{"uri":"/b/*","plugins":{"uri-blocker":{"block_rules":["^/b/private"],"case_insensitive":true}},"upstream":{"nodes":{`+blocked.Node(1)+`}}}`).WantStatus(201)
	served(t, p, "/public/x", "open")
	served(t, p, "/admin/x", "secret", "apikey", "jack-key-1")
	served(t, p, "/b/public", "blocked")

	send := func(target string) *porticotest.Resp {
		return porticotest.Raw(t, p.ProxyAddr(), "GET "+target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	}
	t.Run("key-auth", func(t *testing.T) {
		for _, target := range []string{
			"/admin/x",
			"/public/../admin/x",
			"/public/..%2Fadmin/x",
			"/public/..%2fadmin/x",
			"/public%2F..%2Fadmin/x",
			"/public/%2e%2e/admin/x",
			"/public/%2E%2E%2Fadmin/x",
			"/public/.%2e/admin/x",
			"/public//../admin/x",
			"//admin/x",
			"///admin//x",
			"/./admin/x",
			"/%61dmin/x",
			"/admin%2Fx",
			"/admin/x%00",
			"/public/x%00/../../admin/x",
			"/public/../../admin/x",
			"/ADMIN/x",
			"/Admin/x",
			"/admin/x?apikey=wrong",
		} {
			s, o := secret.Count(), open.Count()
			r := send(target)
			switch r.Status {
			case http.StatusUnauthorized, http.StatusBadRequest, http.StatusNotFound:
			default:
				t.Errorf("GET %s: status %d, want 401, 400 or 404; body %s", target, r.Status, r.Body)
			}
			if secret.Count() != s {
				t.Errorf("GET %s reached the key-auth upstream without a key", target)
			}
			if open.Count() != o {
				t.Errorf("GET %s reached the open upstream: %s", target, open.Last().URI)
			}
		}
	})
	t.Run("uri-blocker", func(t *testing.T) {
		for _, target := range []string{
			"/b/private",
			"/b/private/x",
			"/b/public/../private/x",
			"/b/public/..%2Fprivate/x",
			"/b/public/%2e%2e/private/x",
			"/b//private/x",
			"//b/private/x",
			"/b/./private/x",
			"/b/%70rivate/x",
			"/b%2Fprivate/x",
			"/b/PRIVATE/x",
			"/b/Private/x",
			"/b/pr%69vate/x",
			"/b/private%00",
		} {
			n := blocked.Count()
			r := send(target)
			if r.Status != http.StatusForbidden && r.Status != http.StatusBadRequest {
				t.Errorf("GET %s: status %d, want 403 or 400; body %s", target, r.Status, r.Body)
			}
			if blocked.Count() != n {
				t.Errorf("GET %s reached the upstream past the uri-blocker", target)
			}
		}
		send("/b/public/x").WantStatus(200)
	})
}

// TestAdminNotOnProxyPort: the Admin API answers only on its own listener; on the proxy
// port its paths are ordinary unrouted paths (APISIX CVE-2022-24112 needed both on one
// port).
func TestAdminNotOnProxyPort(t *testing.T) {
	t.Parallel()
	p := porticotest.Start(t)
	up := porticotest.NewUpstream(t, "a")
	p.Admin(t, "PUT", "/apisix/admin/routes/1", `{"uri":"/a","upstream":{"nodes":{`+up.Node(1)+`}}}`).WantStatus(201)
	served(t, p, "/a", "a")
	for _, tt := range []struct{ method, target, body string }{
		{"GET", "/apisix/admin/routes", ""},
		{"GET", "/apisix/admin/routes/1", ""},
		{"GET", "//apisix/admin/routes", ""},
		{"GET", "/apisix/admin/routes/../routes", ""},
		{"GET", "/apisix%2Fadmin/routes", ""},
		{"HEAD", "/apisix/admin", ""},
		{"PUT", "/apisix/admin/routes/2", `{"uri":"/b","upstream":{"nodes":{"127.0.0.1:1":1}}}`},
		{"DELETE", "/apisix/admin/routes/1", ""},
	} {
		raw := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-KEY: %s\r\nX-Real-IP: 127.0.0.1\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
			tt.method, tt.target, p.Key, len(tt.body), tt.body)
		rs := rawResponses(t, p.ProxyAddr(), raw, 1)
		if len(rs) != 1 {
			t.Fatalf("%s %s: no response", tt.method, tt.target)
		}
		r := rs[0]
		if r.Status != http.StatusNotFound {
			t.Errorf("%s %s on the proxy port: status %d, want 404; body %s", tt.method, tt.target, r.Status, r.Body)
			continue
		}
		if tt.method != "HEAD" && string(r.Body) != `{"error_msg":"404 Route Not Found"}`+"\n" {
			t.Errorf("%s %s on the proxy port: body %q, want the route-not-found error", tt.method, tt.target, r.Body)
		}
		if r.Header.Get("X-API-VERSION") != "" {
			t.Errorf("%s %s on the proxy port: answered by the Admin API", tt.method, tt.target)
		}
	}
	p.Admin(t, "GET", "/apisix/admin/routes/2", "").WantStatus(404)
	p.Admin(t, "GET", "/apisix/admin/routes/1", "").WantStatus(200)
}

// TestAdminAuthFailuresLimited: after 10 refused keys in a minute a client gets 429
// without its key being checked; every refusal is logged with the peer's address.
func TestAdminAuthFailuresLimited(t *testing.T) {
	t.Parallel()
	p := porticotest.Start(t)
	p.Admin(t, "GET", "/apisix/admin/routes", "").WantStatus(200) // a valid key does not count
	for i := 1; i <= 10; i++ {
		r := p.AdminAs(t, fmt.Sprintf("guess-%02d-xxxxxxxx", i), "GET", "/apisix/admin/routes", "")
		r.WantStatus(401)
	}
	p.Admin(t, "GET", "/apisix/admin/routes", "").WantStatus(429).
		WantJSON(`{"error_msg":"too many failed admin authentications, retry later"}`)
	p.AdminAs(t, "guess-11-xxxxxxxx", "GET", "/apisix/admin/routes", "").WantStatus(429)
	logs := p.Logs()
	if n := strings.Count(logs, `msg="admin request refused" component=admin remote_addr=127.0.0.1:`); n != 10 {
		t.Errorf("%d refusals logged with remote_addr, want 10", n)
	}
	if !strings.Contains(logs, `msg="admin authentication failures over the limit: the client gets 429 until the window ends" component=admin remote_addr=127.0.0.1:`) {
		t.Errorf("the limit is not logged with remote_addr")
	}
	if strings.Contains(logs, "guess-01") || strings.Contains(logs, p.Key) {
		t.Errorf("a key appears in the log")
	}
	// the proxy is not affected
	get(t, p, "/nothing").WantStatus(404)
}

// TestClientBodyTimeout: a client that stops sending its body is answered 408 once
// proxy.client_body_timeout passes (nginx's client_body_timeout), a malformed chunked
// body 400 (not the upstream's 504 or 502); the upstream serves the next request.
func TestClientBodyTimeout(t *testing.T) {
	t.Parallel()
	p := porticotest.Start(t, porticotest.Options{ProxyConfig: "client_body_timeout: 0.3"})
	up := porticotest.NewUpstream(t, "a")
	p.Admin(t, "PUT", "/apisix/admin/routes/1", `{"uri":"/b/*","upstream":{"retries":2,"nodes":{`+up.Node(1)+`}}}`).WantStatus(201)
	served(t, p, "/b/x", "a")
	tests := []struct {
		name, raw string
		want      int
		msg       string
	}{
		{"stalled Content-Length body", "POST /b/x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + strings.Repeat("b", 10),
			408, "client request body timed out"},
		// 70000 bytes are more than the gateway buffers before it starts the upstream
		// request, so the stall is met while the body streams
		{"stalled streamed body", "POST /b/x HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + strings.Repeat("b", 70000),
			408, "client request body timed out"},
		{"stalled chunked body", "POST /b/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nbbbbb\r\n",
			408, "client request body timed out"},
		{"malformed chunk", "POST /b/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nbbbbb\r\n0\r\n\r\n",
			400, "client request body unreadable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := rawResponses(t, p.ProxyAddr(), tt.raw, 2) // the connection must close after one
			if len(rs) != 1 {
				t.Fatalf("%d responses, want 1 and the connection closed", len(rs))
			}
			if rs[0].Status != tt.want || string(rs[0].Body) != `{"error_msg":"`+tt.msg+`"}`+"\n" {
				t.Errorf("got %s, want %d %s", rs[0], tt.want, tt.msg)
			}
			served(t, p, "/b/x", "a")
		})
	}
}
