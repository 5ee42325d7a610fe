package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-gw/portico/store"
)

// rawUpstream is an HTTP/1.1 server with one goroutine per connection and none per
// request, so goroutine counts in tests are the client's. handle answers one request
// and reports whether the connection stays open.
type rawUpstream struct {
	ln     net.Listener
	conns  atomic.Int32 // accepted
	closed atomic.Int32 // ended (by either side)
	handle func(req *http.Request, body []byte, w *bufio.Writer) bool
	mu     sync.Mutex
	seen   []string // request heads, raw
}

func newRawUpstream(t *testing.T, handle func(req *http.Request, body []byte, w *bufio.Writer) bool) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{ln: ln, handle: handle}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u.conns.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer u.closed.Add(1)
				defer c.Close()
				rec := &recordReader{r: c}
				br := bufio.NewReader(rec)
				bw := bufio.NewWriter(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					body, err := io.ReadAll(req.Body)
					if err != nil {
						return
					}
					u.mu.Lock()
					head, _, _ := strings.Cut(rec.buf.String(), "\r\n\r\n")
					u.seen = append(u.seen, head+"\r\n")
					u.mu.Unlock()
					rec.buf.Reset()
					keep := u.handle(req, body, bw)
					bw.Flush()
					if !keep {
						return
					}
				}
			}()
		}
	}()
	return u
}

type recordReader struct {
	r   io.Reader
	buf bytes.Buffer
}

func (r *recordReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.buf.Write(p[:n])
	return n, err
}

func (u *rawUpstream) addr() string { return u.ln.Addr().String() }

func (u *rawUpstream) lastHead() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		return ""
	}
	return u.seen[len(u.seen)-1]
}

func okResponse(w *bufio.Writer, body string) {
	fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}

func echoUpstream(t *testing.T) *rawUpstream {
	return newRawUpstream(t, func(req *http.Request, body []byte, w *bufio.Writer) bool {
		okResponse(w, req.Method+" "+req.RequestURI+" "+string(body))
		return true
	})
}

func testClient(addr string, kp *store.KeepalivePool, to store.Timeout) *h1Client {
	u := &store.Upstream{KeepalivePool: kp}
	return newH1Client([]string{addr}, u, to, newTransport(u, to))
}

func newReq(t *testing.T, ctx context.Context, method, addr, path string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func roundTrip(t *testing.T, c *h1Client, req *http.Request) (int, string) {
	t.Helper()
	resp, err := c.RoundTrip(req)
	if err != nil {
		t.Fatalf("round trip: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("body: %v", err)
	}
	return resp.StatusCode, string(b)
}

func TestH1ClientReusesConnection(t *testing.T) {
	up := echoUpstream(t)
	c := testClient(up.addr(), nil, store.Timeout{})
	defer c.CloseIdleConnections()
	for i := range 20 {
		req := newReq(t, context.Background(), "GET", up.addr(), "/a", nil)
		req.URL = &url.URL{Scheme: "http", Host: up.addr(), Path: "/a b!", RawPath: "/a%20b!", RawQuery: "q=1&r=%2F"}
		req.Host = "client.test:8080"
		req.Header.Set("X-Multi", "1")
		req.Header.Add("X-Multi", " 2 ")
		req.Header["User-Agent"] = nil
		status, body := roundTrip(t, c, req)
		if status != 200 || body != "GET /a%20b!?q=1&r=%2F " {
			t.Fatalf("%d: %d %q", i, status, body)
		}
	}
	if n := up.conns.Load(); n != 1 {
		t.Errorf("%d connections for 20 sequential requests, want 1", n)
	}
	head := up.lastHead()
	for _, want := range []string{"GET /a%20b!?q=1&r=%2F HTTP/1.1\r\n", "\r\nHost: client.test:8080\r\n", "\r\nX-Multi: 1\r\nX-Multi: 2\r\n"} {
		if !strings.Contains(head, want) {
			t.Errorf("head %q lacks %q", head, want)
		}
	}
	if strings.Contains(head, "User-Agent") || strings.Contains(head, "Content-Length") {
		t.Errorf("head %q: no User-Agent and no Content-Length wanted", head)
	}
}

func TestH1ClientBodies(t *testing.T) {
	up := echoUpstream(t)
	c := testClient(up.addr(), nil, store.Timeout{})
	defer c.CloseIdleConnections()
	big := strings.Repeat("0123456789abcdef", 10000) // 160 KB: streamed
	for _, tc := range []struct {
		name, method string
		body         io.Reader
		want         string
		head         string
	}{
		{"post empty", "POST", nil, "POST /b ", "Content-Length: 0"},
		{"small", "PUT", strings.NewReader("hello"), "PUT /b hello", "Content-Length: 5"},
		{"big", "POST", strings.NewReader(big), "POST /b " + big, "Content-Length: 160000"},
		{"unknown length", "POST", io.MultiReader(strings.NewReader("chu"), strings.NewReader("nked")), "POST /b chunked", "Transfer-Encoding: chunked"},
	} {
		req := newReq(t, context.Background(), tc.method, up.addr(), "/b", tc.body)
		if tc.body != nil {
			req.Body = keptBody{tc.body}
		}
		status, body := roundTrip(t, c, req)
		if status != 200 || body != tc.want {
			t.Errorf("%s: %d %.40q", tc.name, status, body)
		}
		if h := up.lastHead(); !strings.Contains(h, "\r\n"+tc.head+"\r\n") {
			t.Errorf("%s: head %q lacks %q", tc.name, h, tc.head)
		}
	}
	if n := up.conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

// a request body that arrives slowly goes out as it arrives (the upstream answers only
// once it has the first part; the second is sent after that)
func TestH1ClientStreamsRequestBody(t *testing.T) {
	got := make(chan string, 1)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		req, err := http.ReadRequest(bufio.NewReader(conn))
		if err != nil {
			return
		}
		buf := make([]byte, 5)
		io.ReadFull(req.Body, buf)
		got <- string(buf)
		rest, _ := io.ReadAll(req.Body)
		fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(rest), rest)
	}()
	c := testClient(ln.Addr().String(), nil, store.Timeout{})
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte("first"))
		select {
		case s := <-got:
			pw.Write([]byte("+second after " + s))
		case <-time.After(10 * time.Second):
		}
		pw.Close()
	}()
	req := newReq(t, context.Background(), "POST", ln.Addr().String(), "/", nil)
	req.Body, req.ContentLength = keptBody{pr}, -1
	if status, body := roundTrip(t, c, req); status != 200 || body != "+second after first" {
		t.Fatalf("%d %q", status, body)
	}
}

// the upstream closes a kept-alive connection while it is pooled: the next request
// does not fail
func TestH1ClientStaleConnection(t *testing.T) {
	up := newRawUpstream(t, func(req *http.Request, body []byte, w *bufio.Writer) bool {
		okResponse(w, "ok")
		return false // close after each response, without saying so
	})
	c := testClient(up.addr(), nil, store.Timeout{})
	defer c.CloseIdleConnections()
	check := func(method string, body string) {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req := newReq(t, context.Background(), method, up.addr(), "/", rd)
		if rd != nil {
			req.Body = keptBody{rd}
		}
		if status, got := roundTrip(t, c, req); status != 200 || got != "ok" {
			t.Fatalf("%s: %d %q", method, status, got)
		}
	}
	for range 5 {
		check("GET", "")
		waitFor(t, func() bool { return up.closed.Load() == up.conns.Load() })
	}
	check("PUT", "idempotent with a body")
	// a POST is not retried after it was written; a connection idle for longer than
	// probeAfter is checked before it is used
	waitFor(t, func() bool { return up.closed.Load() == up.conns.Load() })
	time.Sleep(probeAfter + 100*time.Millisecond)
	check("POST", "body")
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestH1ClientNotReused(t *testing.T) {
	up := newRawUpstream(t, func(req *http.Request, body []byte, w *bufio.Writer) bool {
		switch req.URL.Path {
		case "/close":
			w.WriteString("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
			return false
		case "/big":
			fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", 100000, strings.Repeat("x", 100000))
		case "/chunked":
			w.WriteString("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: 1\r\n\r\n")
		case "/100":
			w.WriteString("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n")
			okResponse(w, "final")
		default:
			okResponse(w, "ok")
		}
		return true
	})
	c := testClient(up.addr(), &store.KeepalivePool{Requests: 3}, store.Timeout{})
	defer c.CloseIdleConnections()
	get := func(path string) *http.Response {
		t.Helper()
		resp, err := c.RoundTrip(newReq(t, context.Background(), "GET", up.addr(), path, nil))
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	conns := func(want int32) {
		t.Helper()
		if n := up.conns.Load(); n != want {
			t.Errorf("%d connections, want %d", n, want)
		}
	}
	for range 3 {
		io.ReadAll(get("/").Body)
	}
	conns(1)
	io.ReadAll(get("/").Body) // requests: 3 → a new connection
	conns(2)
	io.ReadAll(get("/close").Body)
	io.ReadAll(get("/").Body)
	conns(3)
	resp := get("/big")
	resp.Body.Read(make([]byte, 10))
	resp.Body.Close() // not read to the end: closed
	io.ReadAll(get("/").Body)
	conns(4)
	resp = get("/chunked")
	if b, _ := io.ReadAll(resp.Body); string(b) != "ok" || resp.Trailer.Get("X-T") != "1" {
		t.Errorf("chunked: %q, trailer %v", b, resp.Trailer)
	}
	resp = get("/100")
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || string(b) != "final" {
		t.Errorf("after 1xx: %d %q", resp.StatusCode, b)
	}
	conns(4) // /chunked and /100 were the 2nd and 3rd on the 4th
}

func TestH1ClientTimeoutsAndCancel(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	slowSeen := make(chan struct{}, 8) // one per /slow request the upstream holds
	up := newRawUpstream(t, func(req *http.Request, body []byte, w *bufio.Writer) bool {
		switch req.URL.Path {
		case "/slow":
			slowSeen <- struct{}{}
			<-release
			return false
		case "/stream":
			w.WriteString("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n")
			w.Flush()
			<-release
			return false
		}
		okResponse(w, "ok")
		return true
	})
	c := testClient(up.addr(), nil, store.Timeout{Connect: 1, Read: 0.2})
	defer c.CloseIdleConnections()
	// The request's context has no deadline and the upstream holds /slow until release
	// is closed (at the end): only the read timeout can end this call. 30s is a guard
	// against hanging, not a performance bound.
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err = c.RoundTrip(newReq(t, context.Background(), "GET", up.addr(), "/slow", nil))
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("RoundTrip to a stalled upstream never returned: read timeout not applied")
	}
	if !isTimeout(err) {
		t.Fatalf("err %v, want a timeout", err)
	}
	// the request was sent and the upstream, still holding it, never answered: the
	// read timed out, not the dial
	select {
	case <-slowSeen:
	case <-time.After(30 * time.Second):
		t.Fatal("the upstream never saw /slow: the timeout was not the read timeout")
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(50*time.Millisecond, func() { cancel(context.DeadlineExceeded) })
	c.respTO = time.Minute
	_, err = c.RoundTrip(newReq(t, ctx, "GET", up.addr(), "/slow", nil))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want the context's cause", err)
	}
	// cancelled while the body streams: the read fails, the connection is closed
	ctx, cancel2 := context.WithCancel(context.Background())
	resp, err := c.RoundTrip(newReq(t, ctx, "GET", up.addr(), "/stream", nil))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if n, err := resp.Body.Read(buf); n != 2 || err != nil {
		t.Fatalf("read %d %v", n, err)
	}
	time.AfterFunc(50*time.Millisecond, cancel2)
	if _, err := resp.Body.Read(buf); !errors.Is(err, context.Canceled) {
		t.Fatalf("read after cancel: %v", err)
	}
	resp.Body.Close()
	for _, p := range c.pools {
		if len(p.idle) != 0 {
			t.Errorf("%d idle connections after failures, want 0", len(p.idle))
		}
	}
	// a refused dial is a dial error (forward retries those on another node)
	dead := testClient("127.0.0.1:1", nil, store.Timeout{})
	if _, err := dead.RoundTrip(newReq(t, context.Background(), "GET", "127.0.0.1:1", "/", nil)); !isDialError(err) {
		t.Errorf("refused: %v, want a dial error", err)
	}
}

func TestH1ClientIdleTimeout(t *testing.T) {
	up := echoUpstream(t)
	c := testClient(up.addr(), &store.KeepalivePool{IdleTimeout: 0.05, Size: 2}, store.Timeout{})
	defer c.CloseIdleConnections()
	// three at once: three connections, two kept
	var resps []*http.Response
	for range 3 {
		resp, err := c.RoundTrip(newReq(t, context.Background(), "GET", up.addr(), "/", nil))
		if err != nil {
			t.Fatal(err)
		}
		resps = append(resps, resp)
	}
	for _, r := range resps {
		io.ReadAll(r.Body)
		r.Body.Close()
	}
	p := c.pools[up.addr()]
	p.mu.Lock()
	n := len(p.idle)
	p.mu.Unlock()
	if n != 2 {
		t.Errorf("%d idle, want 2 (size)", n)
	}
	waitFor(t, func() bool { return up.closed.Load() == 3 }) // swept after 50 ms
}

func TestH1ClientRefusesBadHeaders(t *testing.T) {
	up := echoUpstream(t)
	c := testClient(up.addr(), nil, store.Timeout{})
	for _, h := range [][2]string{{"X-Bad", "a\r\nInjected: 1"}, {"Bad Name", "v"}} {
		req := newReq(t, context.Background(), "GET", up.addr(), "/", nil)
		req.Header[h[0]] = []string{h[1]}
		if _, err := c.RoundTrip(req); err == nil {
			t.Errorf("%q: %q sent", h[0], h[1])
		}
	}
}

// no goroutine per request: the handler's goroutine does the whole exchange
func TestH1ClientNoGoroutinePerRequest(t *testing.T) {
	up := echoUpstream(t)
	c := testClient(up.addr(), nil, store.Timeout{})
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	roundTrip(t, c, newReq(t, ctx, "GET", up.addr(), "/", nil)) // connection up
	sample := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(sample)
	before := sample[0].Value.Uint64()
	for range 200 {
		roundTrip(t, c, newReq(t, ctx, "POST", up.addr(), "/", strings.NewReader("body")))
	}
	metrics.Read(sample)
	if d := sample[0].Value.Uint64() - before; d > 5 {
		t.Errorf("%d goroutines created for 200 requests", d)
	}
}

// an upstream that answers before reading a big body, and closes: its answer is returned
func TestH1ClientEarlyResponse(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		if _, err := http.ReadRequest(bufio.NewReader(conn)); err != nil {
			return
		}
		io.WriteString(conn, "HTTP/1.1 413 Request Entity Too Large\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbig")
		conn.Close()
	}()
	c := testClient(ln.Addr().String(), nil, store.Timeout{})
	req := newReq(t, context.Background(), "POST", ln.Addr().String(), "/", bytes.NewReader(make([]byte, 16<<20)))
	if status, body := roundTrip(t, c, req); status != 413 || body != "big" {
		t.Fatalf("%d %q", status, body)
	}
}
