package porticotest

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// NewUpstreamWith starts a recording upstream whose Handler is h from the start, so a
// test never writes Handler while requests are being served.
func NewUpstreamWith(t testing.TB, name string, h http.HandlerFunc) *Upstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &Upstream{Name: name, Addr: ln.Addr().String(), ln: ln, Handler: h}
	u.srv = &http.Server{Handler: http.HandlerFunc(u.serve)}
	go u.srv.Serve(ln)
	t.Cleanup(func() { u.srv.Close() })
	return u
}

// Reopen serves again on the same address after Close; it waits (up to 10s) for the
// port to be free again. Call it from the test goroutine only.
func (u *Upstream) Reopen(t testing.TB) {
	t.Helper()
	var (
		ln  net.Listener
		err error
	)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ln, err = net.Listen("tcp", u.Addr); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reopen upstream %s on %s: %v", u.Name, u.Addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	u.ln = ln
	u.srv = &http.Server{Handler: http.HandlerFunc(u.serve)}
	go u.srv.Serve(ln)
}

// Requests returns a copy of every request received so far.
func (u *Upstream) Requests() []Seen {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Seen(nil), u.seen...)
}

// ProxyAddr is the proxy's "127.0.0.1:port".
func (p *Portico) ProxyAddr() string { return strings.TrimPrefix(p.ProxyURL, "http://") }

// ClosedAddr returns a 127.0.0.1 address nothing listens on (connections are refused).
func ClosedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Raw sends raw, a whole HTTP/1.1 request as written on the wire, to addr on a new
// connection and reads one response. Use it for request targets and headers a Go
// client would clean or refuse.
func Raw(t testing.TB, addr, raw string) *Resp {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatalf("write raw request: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read response to raw request %q: %v", firstLine(raw), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body of raw request %q: %v", firstLine(raw), err)
	}
	return &Resp{t: t, Status: resp.StatusCode, Header: resp.Header, Body: b}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\r'); i >= 0 {
		return s[:i]
	}
	return s
}
