package proxy_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portico-gw/portico/internal/porticotest"
)

func TestRequestHeaders(t *testing.T) {
	t.Parallel()
	p := porticotest.Start(t)
	up := porticotest.NewUpstreamWith(t, "a", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "X-Resp-Hop")
		w.Header().Set("X-Resp-Hop", "1")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-Kept", "1")
		io.WriteString(w, "ok")
	})
	p.Admin(t, "PUT", "/apisix/admin/routes/1", `{"uri":"/h/*","upstream":{"nodes":{`+up.Node(1)+`}}}`).WantStatus(201)
	served(t, p, "/h/x", "a")
	_, port, _ := net.SplitHostPort(p.ProxyAddr())

	t.Run("hop-by-hop removed, X-Forwarded-* set", func(t *testing.T) {
		r := porticotest.Raw(t, p.ProxyAddr(), "GET /h/x HTTP/1.1\r\n"+
			"Host: Example.TEST:8080\r\n"+
			"Connection: keep-alive, X-Custom-Hop\r\n"+
			"X-Custom-Hop: 1\r\n"+
			"Keep-Alive: timeout=5\r\n"+
			"Proxy-Connection: keep-alive\r\n"+
			"Upgrade: h2c\r\n"+
			"Proxy-Authorization: Basic eDp5\r\n"+
			"X-Forwarded-For: 192.0.2.1\r\n"+
			"X-Real-IP: 192.0.2.2\r\n"+
			"X-Forwarded-Proto: https\r\n"+
			"X-Forwarded-Host: evil.test\r\n"+
			"X-Forwarded-Port: 1\r\n"+
			"Forwarded: for=192.0.2.3\r\n"+
			"X-End-To-End: kept\r\n"+
			"\r\n")
		r.WantStatus(200)
		if r.Header.Get("X-Resp-Hop") != "" || r.Header.Get("Keep-Alive") != "" {
			t.Errorf("response hop-by-hop headers reached the client: %v", r.Header)
		}
		if r.Header.Get("X-Kept") != "1" {
			t.Errorf("response header X-Kept lost: %v", r.Header)
		}
		h := up.Last().Header
		for _, k := range []string{"Connection", "X-Custom-Hop", "Keep-Alive", "Proxy-Connection", "Upgrade", "Proxy-Authorization", "Forwarded"} {
			if v, ok := h[k]; ok {
				t.Errorf("upstream got %s: %q", k, v)
			}
		}
		want := map[string]string{
			"X-Forwarded-For":   "192.0.2.1, 127.0.0.1",
			"X-Real-Ip":         "127.0.0.1",
			"X-Forwarded-Proto": "http",
			"X-Forwarded-Host":  "example.test",
			"X-Forwarded-Port":  port,
			"X-End-To-End":      "kept",
		}
		for k, v := range want {
			if got := strings.Join(h[k], " | "); got != v {
				t.Errorf("upstream got %s: %q, want %q", k, got, v)
			}
		}
		if got := up.Last().Host; got != "Example.TEST:8080" {
			t.Errorf("upstream Host = %q, want the client's (pass_host pass)", got)
		}
	})

	t.Run("Connection cannot strip what the gateway sets", func(t *testing.T) {
		r := porticotest.Raw(t, p.ProxyAddr(), "GET /h/x HTTP/1.1\r\n"+
			"Host: a.test\r\n"+
			"Connection: X-Forwarded-For, X-Real-IP, X-Forwarded-Proto, X-Forwarded-Host, X-Forwarded-Port\r\n"+
			"X-Forwarded-For: 192.0.2.1\r\n"+
			"\r\n")
		r.WantStatus(200)
		h := up.Last().Header
		xff := h.Get("X-Forwarded-For")
		if xff != "127.0.0.1" && !strings.HasSuffix(xff, ", 127.0.0.1") {
			t.Errorf("X-Forwarded-For = %q, want it to end with the client address", xff)
		}
		for k, v := range map[string]string{"X-Real-Ip": "127.0.0.1", "X-Forwarded-Proto": "http", "X-Forwarded-Host": "a.test", "X-Forwarded-Port": port} {
			if got := h.Get(k); got != v {
				t.Errorf("upstream got %s: %q, want %q", k, got, v)
			}
		}
		if _, ok := h["Connection"]; ok {
			t.Errorf("upstream got Connection: %q", h["Connection"])
		}
	})

	t.Run("no client X-Forwarded-For", func(t *testing.T) {
		get(t, p, "/h/x").WantStatus(200)
		if got := up.Last().Header["X-Forwarded-For"]; len(got) != 1 || got[0] != "127.0.0.1" {
			t.Errorf("X-Forwarded-For = %q, want [127.0.0.1]", got)
		}
	})
}

func TestPathCanonicalisation(t *testing.T) {
	t.Parallel()
	p := porticotest.Start(t)
	up := porticotest.NewUpstream(t, "a")
	other := porticotest.NewUpstream(t, "secret")
	p.Admin(t, "PUT", "/apisix/admin/routes/1", `{"uri":"/c/b","upstream":{"nodes":{`+up.Node(1)+`}}}`).WantStatus(201)
	p.Admin(t, "PUT", "/apisix/admin/routes/2", `{"uri":"/public/*","upstream":{"nodes":{`+up.Node(1)+`}}}`).WantStatus(201)
	p.Admin(t, "PUT", "/apisix/admin/routes/3", `{"uri":"/admin/*","upstream":{"nodes":{`+other.Node(1)+`}}}`).WantStatus(201)
	served(t, p, "/c/b", "a")
	served(t, p, "/admin/x", "secret")

	ok := []struct{ target, route, upstream string }{
		{"/c/b", "a", "/c/b"},
		{"/c/a/../b", "a", "/c/b"},
		{"//c//b", "a", "/c/b"},
		{"/c/./b", "a", "/c/b"},
		{"/c%2Fb", "a", "/c/b"},
		{"/c%2fb", "a", "/c/b"},
		{"/c/%2e/b", "a", "/c/b"},
		{"/c/x/%2e%2E/b", "a", "/c/b"},
		{"/%63/b", "a", "/c/b"},
		{"/c/b?x=%2F&y=..%2f", "a", "/c/b?x=%2F&y=..%2f"},
		{"/admin/..%2Fpublic/x", "a", "/public/x"},
		{"/admin%2F..%2Fpublic/x", "a", "/public/x"},
		{"/public/../admin/x", "secret", "/admin/x"},
		{"/public/%2e%2e/admin/x", "secret", "/admin/x"},
		{"/public/a%20b", "a", "/public/a%20b"},
		{"/public/a%3Fb?q=1", "a", "/public/a%3Fb?q=1"},
		{"/public/a%25b", "a", "/public/a%25b"},
		{"/public/a!b;c=d", "a", "/public/a!b;c=d"},
		{"/public/%C3%A9", "a", "/public/%C3%A9"},
	}
	for _, tt := range ok {
		r := porticotest.Raw(t, p.ProxyAddr(), "GET "+tt.target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if r.Status != 200 || from(r) != tt.route {
			t.Errorf("GET %s: status %d from %q, want 200 from %q; body %s", tt.target, r.Status, from(r), tt.route, r.Body)
			continue
		}
		if got := seen(t, r).URI; got != tt.upstream {
			t.Errorf("GET %s: upstream saw %q, want %q", tt.target, got, tt.upstream)
		}
	}
	for _, target := range []string{"/c/b%00", "/c%00/b", "/..", "/../c/b", "/c/../../c/b", "/%2e%2e/c/b", "/c/%2e%2e/%2e%2e/c/b", "/c/b/..%2F..%2F.."} {
		before := up.Count() + other.Count()
		r := porticotest.Raw(t, p.ProxyAddr(), "GET "+target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		wantError(t, r, http.StatusBadRequest)
		if after := up.Count() + other.Count(); after != before {
			t.Errorf("GET %s reached an upstream", target)
		}
	}
}

func TestOversizedHeaders(t *testing.T) {
	t.Parallel()
	p := porticotest.Start(t)
	up := porticotest.NewUpstream(t, "a")
	p.Admin(t, "PUT", "/apisix/admin/routes/1", `{"uri":"/*","upstream":{"nodes":{`+up.Node(1)+`}}}`).WantStatus(201)
	served(t, p, "/x", "a")
	get(t, p, "/x", "X-Big", strings.Repeat("a", 8<<10)).WantStatus(200)
	n := up.Count()
	get(t, p, "/x", "X-Big", strings.Repeat("a", 64<<10)).WantStatus(http.StatusRequestHeaderFieldsTooLarge)
	if up.Count() != n {
		t.Errorf("the oversized request reached the upstream")
	}
}

// TestServerTimeouts: a client that never finishes its request header is cut off
// (the proxy listener has a ReadHeaderTimeout; the default is 10 s).
func TestServerTimeouts(t *testing.T) {
	t.Parallel()
	p := porticotest.Start(t)
	c, err := net.Dial("tcp", p.ProxyAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n") // never the blank line
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	_, err = bufio.NewReader(c).ReadString('\n')
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the proxy kept a half-sent request open for 60s: no ReadHeaderTimeout")
	}
	// a 408 line or a plain close are both fine
}
