package extplugin

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	a6err "github.com/api7/ext-plugin-proto/go/A6/Err"
	ei "github.com/api7/ext-plugin-proto/go/A6/ExtraInfo"
	hrc "github.com/api7/ext-plugin-proto/go/A6/HTTPReqCall"
	pc "github.com/api7/ext-plugin-proto/go/A6/PrepareConf"

	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/plugins/pluginstest"
)

var testConf = []ConfEntry{{Name: "tstop", Value: `{"status":403}`}}

func newTestPlugin(cl *Client, degrade bool) *Plugin {
	return New("ext-plugin-pre-req", &Config{Conf: testConf, AllowDegradation: degrade}).WithClient(cl)
}

func TestFrameErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"header too short", []byte{2, 0}, "header too short"},
		{"data truncated", []byte{2, 0, 0, 9, 1, 2}, "data truncated"},
		{"empty", nil, "EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf []byte
			_, _, err := readFrame(bufio.NewReader(bytes.NewReader(tt.in)), &buf)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("readFrame = %v, want %q", err, tt.want)
			}
		})
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	var scratch []byte
	if err := writeFrame(a, &scratch, 2, make([]byte, MaxPayload+1)); !errors.Is(err, errFrameTooLarge) {
		t.Errorf("writeFrame(16 MiB + 1) = %v, want errFrameTooLarge", err)
	}
}

func TestFrameLarge(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	payload := bytes.Repeat([]byte("x"), 1<<20)
	go func() {
		var scratch []byte
		writeFrame(a, &scratch, 3, payload)
	}()
	var buf []byte
	typ, got, err := readFrame(bufio.NewReader(b), &buf)
	if err != nil || typ != 3 || !bytes.Equal(got, payload) {
		t.Fatalf("readFrame = %d, %d bytes, %v", typ, len(got), err)
	}
}

// TestRequestEncoding checks what the runner gets: APISIX's lower-case headers, host,
// args in order with valueless ones, the path, the source IP.
func TestRequestEncoding(t *testing.T) {
	got := make(chan *hrc.Req, 1)
	f := startFake(t, func(fc *fakeConn, req *hrc.Req) (byte, []byte) {
		got <- req
		return typeHTTPReqCall, noneReply(req.Id())
	})
	cl := NewClient(Options{Socket: f.path})
	defer cl.Close()
	c := pluginstest.Ctx(t, pluginstest.Method("PUT"), pluginstest.Target("/hello?xx=y&xx=z&&y=&&z&sp=a%20b"),
		pluginstest.Header("X-Req", "1"), pluginstest.ClientAddr("192.0.2.7"))
	c.R.Header.Add("X-Req", "2")
	c.R.Host = "example.com"
	if res := newTestPlugin(cl, false).Run(c); res.Stopped() {
		t.Fatalf("Run = %+v", res)
	}
	req := <-got
	if m := req.Method().String(); m != "PUT" {
		t.Errorf("method %s", m)
	}
	if p := string(req.Path()); p != "/hello" {
		t.Errorf("path %q", p)
	}
	if ip := req.SrcIpBytes(); !bytes.Equal(ip, []byte{192, 0, 2, 7}) {
		t.Errorf("src_ip %v", ip)
	}
	if a := strings.Join(reqArgs(req), "&"); a != "xx=y&xx=z&y=&z&sp=a b" {
		t.Errorf("args %q", a)
	}
	h := reqHeaders(req)
	if v := strings.Join(h["x-req"], ","); v != "1,2" {
		t.Errorf("x-req %q (headers %v)", v, h)
	}
	if v := h["host"]; len(v) != 1 || v[0] != "example.com" {
		t.Errorf("host %v", v)
	}
	if req.ConfToken() != 1 {
		t.Errorf("token %d", req.ConfToken())
	}
}

// TestUpstreamURISent: after proxy-rewrite the runner sees what the upstream would get.
func TestUpstreamURISent(t *testing.T) {
	got := make(chan *hrc.Req, 1)
	f := startFake(t, func(fc *fakeConn, req *hrc.Req) (byte, []byte) {
		got <- req
		return typeHTTPReqCall, noneReply(req.Id())
	})
	cl := NewClient(Options{Socket: f.path})
	defer cl.Close()
	c := pluginstest.Ctx(t, pluginstest.Target("/a?x=1"))
	c.UpstreamURI, c.UpstreamHost = "/b%20c?y=2", "up.example"
	newTestPlugin(cl, false).Run(c)
	req := <-got
	if p, a := string(req.Path()), strings.Join(reqArgs(req), "&"); p != "/b%20c" || a != "y=2" {
		t.Errorf("path %q args %q", p, a)
	}
	if h := reqHeaders(req)["host"]; len(h) != 1 || h[0] != "up.example" {
		t.Errorf("host %v", h)
	}
}

func TestExtraInfo(t *testing.T) {
	type answers struct {
		addr, route, missing, body, body2, resp []byte
		missingOK                               bool
	}
	got := make(chan answers, 1)
	f := startFake(t, func(fc *fakeConn, req *hrc.Req) (byte, []byte) {
		var a answers
		a.addr, _ = fc.ask(ei.InfoVar, "remote_addr")
		a.route, _ = fc.ask(ei.InfoVar, "route_id")
		a.missing, _ = fc.ask(ei.InfoVar, "no_such_var")
		a.body, _ = fc.ask(ei.InfoReqBody, "")
		a.body2, _ = fc.ask(ei.InfoReqBody, "")
		a.resp, _ = fc.ask(ei.InfoRespBody, "")
		got <- a
		return typeHTTPReqCall, noneReply(req.Id())
	})
	cl := NewClient(Options{Socket: f.path})
	defer cl.Close()
	body := strings.Repeat("b", 100<<10)
	c := pluginstest.Ctx(t, pluginstest.Method("POST"), pluginstest.Body(body))
	c.RouteID = "r1"
	if res := newTestPlugin(cl, false).Run(c); res.Stopped() {
		t.Fatalf("Run = %+v", res)
	}
	a := <-got
	if string(a.addr) != "127.0.0.1" || string(a.route) != "r1" {
		t.Errorf("vars: remote_addr %q route_id %q", a.addr, a.route)
	}
	if a.missing != nil {
		t.Errorf("missing var answered %q, want no result", a.missing)
	}
	if string(a.body) != body || string(a.body2) != body {
		t.Errorf("body: %d and %d bytes, want %d", len(a.body), len(a.body2), len(body))
	}
	if a.resp != nil {
		t.Errorf("resp body outside post-resp = %q", a.resp)
	}
	// the upstream still gets the body
	rest, _ := io.ReadAll(c.R.Body)
	if string(rest) != body {
		t.Errorf("body left for the upstream: %d bytes", len(rest))
	}
	if n := f.conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1 (PrepareConf's reused)", n)
	}
}

func TestUnsupportedInfoType(t *testing.T) {
	f := startFake(t, func(fc *fakeConn, req *hrc.Req) (byte, []byte) {
		fc.ask(9, "")
		return typeHTTPReqCall, noneReply(req.Id())
	})
	cl := NewClient(Options{Socket: f.path, ReadTimeout: time.Second})
	defer cl.Close()
	if res := newTestPlugin(cl, false).Run(pluginstest.Ctx(t)); res.Status != 503 {
		t.Errorf("status %d, want 503", res.Status)
	}
}

// TestPrepareShared_hammer: concurrent requests share one PrepareConf per conf.
func TestPrepareShared_hammer(t *testing.T) {
	f := startFake(t, func(fc *fakeConn, req *hrc.Req) (byte, []byte) {
		return typeHTTPReqCall, noneReply(req.Id())
	})
	gate := make(chan struct{})
	f.prepare = func(fc *fakeConn, req *pc.Req) (byte, []byte) {
		<-gate // hold PrepareConf until every caller waits on it
		n := uint32(f.prepares.Add(1))
		f.mu.Lock()
		f.tokens[n] = true
		f.mu.Unlock()
		return typePrepareConf, prepareReply(n)
	}
	cl := NewClient(Options{Socket: f.path})
	defer cl.Close()
	p1 := newTestPlugin(cl, false)
	p2 := New("ext-plugin-pre-req", &Config{Conf: []ConfEntry{{Name: "other", Value: "{}"}}}).WithClient(cl)
	var wg sync.WaitGroup
	errs := make(chan plugins.Result, 100)
	for i := 0; i < 100; i++ {
		p := p1
		if i%2 == 1 {
			p = p2
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- p.Run(pluginstest.Ctx(t))
		}()
	}
	time.Sleep(50 * time.Millisecond)
	close(gate)
	wg.Wait()
	close(errs)
	for res := range errs {
		if res.Stopped() {
			t.Fatalf("Run = %+v", res)
		}
	}
	if n := f.prepares.Load(); n != 2 {
		t.Errorf("%d PrepareConf for 2 confs, want 2", n)
	}
	if n := f.calls.Load(); n != 100 {
		t.Errorf("%d calls, want 100", n)
	}
}

// TestTokenNotFound: the runner forgot the token → prepare again and retry; a runner
// that never knows it → 503 after 3 calls, or pass with allow_degradation.
func TestTokenNotFound(t *testing.T) {
	f := startFake(t, func(fc *fakeConn, req *hrc.Req) (byte, []byte) {
		return typeHTTPReqCall, stopReply(req.Id(), 403, nil, "no")
	})
	cl := NewClient(Options{Socket: f.path})
	defer cl.Close()
	p := newTestPlugin(cl, false)
	if res := p.Run(pluginstest.Ctx(t)); res.Status != 403 {
		t.Fatalf("status %d", res.Status)
	}
	f.forget()
	if res := p.Run(pluginstest.Ctx(t)); res.Status != 403 {
		t.Fatalf("after the runner forgot: status %d", res.Status)
	}
	if n, c := f.prepares.Load(), f.calls.Load(); n != 2 || c != 3 {
		t.Errorf("%d PrepareConf, %d calls; want 2, 3", n, c)
	}

	// a runner that forgets every token at once
	f.prepare = func(fc *fakeConn, req *pc.Req) (byte, []byte) {
		return typePrepareConf, prepareReply(uint32(1000 + f.prepares.Add(1)))
	}
	f.forget()
	calls := f.calls.Load()
	if res := p.Run(pluginstest.Ctx(t)); res.Status != 503 {
		t.Errorf("token never found: status %d, want 503", res.Status)
	}
	if n := f.calls.Load() - calls; n != 3 {
		t.Errorf("%d calls, want 3", n)
	}
	if res := newTestPlugin(cl, true).Run(pluginstest.Ctx(t)); res.Stopped() {
		t.Errorf("allow_degradation: %+v", res)
	}
}

// TestTokenExpiry: a token is used for 90% of APISIX_CONF_EXPIRE_TIME, then prepared again.
func TestTokenExpiry(t *testing.T) {
	f := startFake(t, func(fc *fakeConn, req *hrc.Req) (byte, []byte) {
		return typeHTTPReqCall, noneReply(req.Id())
	})
	cl := NewClient(Options{Socket: f.path, ConfExpire: 200 * time.Millisecond})
	defer cl.Close()
	p := newTestPlugin(cl, false)
	p.Run(pluginstest.Ctx(t))
	p.Run(pluginstest.Ctx(t))
	if n := f.prepares.Load(); n != 1 {
		t.Fatalf("%d PrepareConf, want 1", n)
	}
	time.Sleep(200 * time.Millisecond)
	p.Run(pluginstest.Ctx(t))
	if n := f.prepares.Load(); n != 2 {
		t.Errorf("%d PrepareConf after expiry, want 2", n)
	}
	cl.Flush()
	p.Run(pluginstest.Ctx(t))
	if n := f.prepares.Load(); n != 3 {
		t.Errorf("%d PrepareConf after Flush, want 3", n)
	}
}

func TestRPCErrors(t *testing.T) {
	tests := []struct {
		name  string
		reply func(fc *fakeConn, req *hrc.Req) (byte, []byte)
		want  string
	}{
		{"service unavailable", func(fc *fakeConn, req *hrc.Req) (byte, []byte) {
			return typeError, errReply(a6err.CodeSERVICE_UNAVAILABLE)
		}, "service unavailable"},
		{"bad request", func(fc *fakeConn, req *hrc.Req) (byte, []byte) {
			return typeError, errReply(a6err.CodeBAD_REQUEST)
		}, "bad request"},
		{"unexpected type", func(fc *fakeConn, req *hrc.Req) (byte, []byte) {
			return typeHTTPRespCall, noneReply(req.Id())
		}, "unexpected type 4"},
		{"garbage", func(fc *fakeConn, req *hrc.Req) (byte, []byte) {
			return typeHTTPReqCall, []byte{0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4, 5, 6}
		}, "malformed"},
		{"short", func(fc *fakeConn, req *hrc.Req) (byte, []byte) {
			return typeHTTPReqCall, []byte{1, 2}
		}, "malformed"},
		{"closed", func(fc *fakeConn, req *hrc.Req) (byte, []byte) { return 0, nil }, "EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFake(t, tt.reply)
			cl := NewClient(Options{Socket: f.path, ReadTimeout: time.Second})
			defer cl.Close()
			s := cl.slot(NewConf("x", testConf))
			_, err := cl.HTTPReqCall(context.Background(), s.conf, &Request{Method: "GET", Path: "/"}, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
			if res := newTestPlugin(cl, false).Run(pluginstest.Ctx(t)); res.Status != 503 {
				t.Errorf("plugin: status %d, want 503", res.Status)
			}
			if res := newTestPlugin(cl, true).Run(pluginstest.Ctx(t)); res.Stopped() {
				t.Errorf("allow_degradation: %+v", res)
			}
			// a connection that saw an error is never reused
			if n, c := f.conns.Load(), f.calls.Load(); n < c {
				t.Errorf("%d connections for %d failed calls", n, c)
			}
		})
	}
}

// TestGarbageThenGood: after a garbage frame the next request works on a new connection.
func TestGarbageThenGood(t *testing.T) {
	var n int
	var mu sync.Mutex
	f := startFake(t, func(fc *fakeConn, req *hrc.Req) (byte, []byte) {
		mu.Lock()
		n++
		bad := n == 1
		mu.Unlock()
		if bad {
			fc.nc.Write([]byte{2, 0, 0, 3, 'x', 'y', 'z', 9, 9}) // a frame, then stray bytes
			return 0, nil
		}
		return typeHTTPReqCall, stopReply(req.Id(), 418, nil, "")
	})
	cl := NewClient(Options{Socket: f.path})
	defer cl.Close()
	p := newTestPlugin(cl, false)
	if res := p.Run(pluginstest.Ctx(t)); res.Status != 503 {
		t.Errorf("garbage: status %d, want 503", res.Status)
	}
	if res := p.Run(pluginstest.Ctx(t)); res.Status != 418 {
		t.Errorf("next: status %d, want 418", res.Status)
	}
}

// TestSlowRunner: a runner slower than the read timeout gives 503 at the timeout, and
// its late reply is never read as the answer to another call.
func TestSlowRunner(t *testing.T) {
	var mu sync.Mutex
	slow := true
	entered := make(chan struct{}, 8) // a slow call reached the runner
	release := make(chan struct{})    // the runner holds slow calls until closed
	unblock := sync.OnceFunc(func() { close(release) })
	f := startFake(t, func(fc *fakeConn, req *hrc.Req) (byte, []byte) {
		mu.Lock()
		s := slow
		mu.Unlock()
		if s {
			entered <- struct{}{}
			<-release
			return typeHTTPReqCall, stopReply(req.Id(), 500, nil, "late")
		}
		return typeHTTPReqCall, stopReply(req.Id(), 200, nil, "fast")
	})
	t.Cleanup(unblock) // before the fake runner's own cleanup waits for its handlers
	cl := NewClient(Options{Socket: f.path, ReadTimeout: 100 * time.Millisecond})
	defer cl.Close()
	p := newTestPlugin(cl, false)
	p.Run(pluginstest.Ctx(t)) // prepare
	// The runner answers only once release is closed, after this: the call can only
	// end by the read timeout. 30s is a guard against hanging, not a performance bound.
	var res plugins.Result
	done := make(chan struct{})
	go func() { defer close(done); res = p.Run(pluginstest.Ctx(t)) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("a call to a stalled runner never returned: read timeout not applied")
	}
	if res.Status != 503 {
		t.Errorf("slow runner: status %d, want 503", res.Status)
	}
	select {
	case <-entered: // the runner had the call, and still holds it
	case <-time.After(30 * time.Second):
		t.Fatal("the runner never saw the call")
	}
	mu.Lock()
	slow = false
	mu.Unlock()
	unblock() // the late reply is written now, before the next call
	if res := p.Run(pluginstest.Ctx(t)); res.Status != 200 || string(res.Body) != "fast" {
		t.Errorf("next: %d %q", res.Status, res.Body)
	}
	if res := newTestPlugin(cl, true).Run(pluginstest.Ctx(t)); res.Status != 200 {
		t.Errorf("degradation case: %d", res.Status)
	}
}

// TestClientGone: a cancelled request context ends the call at once, while the runner
// still holds it.
func TestClientGone(t *testing.T) {
	entered := make(chan struct{}, 8)
	release := make(chan struct{})
	f := startFake(t, func(fc *fakeConn, req *hrc.Req) (byte, []byte) {
		entered <- struct{}{}
		<-release
		return typeHTTPReqCall, noneReply(req.Id())
	})
	t.Cleanup(func() { close(release) }) // before the fake runner's cleanup waits
	cl := NewClient(Options{Socket: f.path})
	defer cl.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err = cl.HTTPReqCall(ctx, NewConf("x", testConf), &Request{Method: "GET", Path: "/"}, nil)
	}()
	select {
	case <-entered: // the runner has the call and will not answer
	case <-time.After(30 * time.Second):
		t.Fatal("the runner never saw the call")
	}
	cancel()
	// 30s is a guard against hanging, not a performance bound: the runner never
	// answers, so only the cancellation can end the call.
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("a cancelled call still waits for the runner")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want context.Canceled", err)
	}
}

// TestStaleConn: pooled connections the runner closed while idle are replaced without
// failing the request.
func TestStaleConn(t *testing.T) {
	f := startFake(t, func(fc *fakeConn, req *hrc.Req) (byte, []byte) {
		return typeHTTPReqCall, stopReply(req.Id(), 201, nil, "")
	})
	cl := NewClient(Options{Socket: f.path})
	defer cl.Close()
	p := newTestPlugin(cl, false)
	if res := p.Run(pluginstest.Ctx(t)); res.Status != 201 {
		t.Fatalf("status %d", res.Status)
	}
	f.dropConns()
	time.Sleep(20 * time.Millisecond)
	if res := p.Run(pluginstest.Ctx(t)); res.Status != 201 {
		t.Errorf("after the runner closed idle connections: status %d", res.Status)
	}
}

// TestNoRunner: nothing listens (or no client is set) → 503, or pass with allow_degradation.
func TestNoRunner(t *testing.T) {
	cl := NewClient(Options{Socket: shortDir(t) + "/none.sock"})
	defer cl.Close()
	if res := newTestPlugin(cl, false).Run(pluginstest.Ctx(t)); res.Status != 503 {
		t.Errorf("status %d, want 503", res.Status)
	}
	if res := newTestPlugin(cl, true).Run(pluginstest.Ctx(t)); res.Stopped() {
		t.Errorf("allow_degradation: %+v", res)
	}
	SetDefault(nil)
	if res := New("ext-plugin-pre-req", &Config{}).Run(pluginstest.Ctx(t)); res.Status != 503 {
		t.Errorf("no default client: status %d, want 503", res.Status)
	}
}

func TestUnknownMethod(t *testing.T) {
	f := startFake(t, func(fc *fakeConn, req *hrc.Req) (byte, []byte) {
		return typeHTTPReqCall, noneReply(req.Id())
	})
	cl := NewClient(Options{Socket: f.path})
	defer cl.Close()
	if res := newTestPlugin(cl, false).Run(pluginstest.Ctx(t, pluginstest.Method("PURGE"))); res.Status != 503 {
		t.Errorf("PURGE: status %d, want 503", res.Status)
	}
	if res := newTestPlugin(cl, false).Run(pluginstest.Ctx(t, pluginstest.Method(http.MethodPatch))); res.Stopped() {
		t.Errorf("PATCH: %+v", res)
	}
}
