package h1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// start runs s on 127.0.0.1 and returns its address; the server is closed with the test.
func start(t testing.TB, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if s.ErrorLog == nil {
		s.ErrorLog = log.New(io.Discard, "", 0)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve = %v, want ErrServerClosed", err)
		}
	})
	return ln.Addr().String()
}

func dial(t testing.TB, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second)) // a failsafe, not a bound under test
	return c, bufio.NewReader(c)
}

func get(t testing.TB, c net.Conn, br *bufio.Reader, path string) *http.Response {
	t.Helper()
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", path); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp
}

// waitClosed reads until the server closes the connection and returns what it read.
func waitClosed(t testing.TB, br *bufio.Reader) string {
	t.Helper()
	b, err := io.ReadAll(br)
	if err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("connection not closed: %v", err)
	}
	return string(b)
}

func TestHijack(t *testing.T) {
	var states []http.ConnState
	var mu sync.Mutex
	s := &Server{
		ConnState: func(_ net.Conn, st http.ConnState) { mu.Lock(); states = append(states, st); mu.Unlock() },
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("Hijack: %v", err)
				return
			}
			defer conn.Close()
			if _, err := w.Write([]byte("x")); err != http.ErrHijacked {
				t.Errorf("Write after Hijack = %v, want ErrHijacked", err)
			}
			brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
			brw.Flush()
			// echo lines, the first of which came with the request
			for {
				line, err := brw.ReadString('\n')
				if err != nil {
					return
				}
				brw.WriteString("echo " + line)
				brw.Flush()
			}
		}),
	}
	addr := start(t, s)
	c, br := dial(t, addr)
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nfirst\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("response %v, %v; want 101", resp, err)
	}
	if line, _ := br.ReadString('\n'); line != "echo first\n" {
		t.Errorf("got %q, want the buffered line echoed", line)
	}
	io.WriteString(c, "second\n")
	if line, _ := br.ReadString('\n'); line != "echo second\n" {
		t.Errorf("got %q", line)
	}
	c.Close()
	mu.Lock()
	defer mu.Unlock()
	if want := []http.ConnState{http.StateNew, http.StateActive, http.StateHijacked}; !slices.Equal(states, want) {
		t.Errorf("states = %v, want %v", states, want)
	}
}

func TestShutdown(t *testing.T) {
	release := make(chan struct{})
	inFlight := make(chan struct{})
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(inFlight)
			<-release
		}
		io.WriteString(w, "done")
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	addr := ln.Addr().String()

	idle, idleBR := dial(t, addr)
	if resp := get(t, idle, idleBR, "/fast"); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	busy, busyBR := dial(t, addr)
	fmt.Fprintf(busy, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	<-inFlight

	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve = %v, want ErrServerClosed", err)
	}
	waitClosed(t, idleBR) // the idle connection is closed
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	default:
	}
	close(release)
	resp, err := http.ReadResponse(busyBR, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "done" || !resp.Close {
		t.Errorf("in-flight response: %d %q close=%v; want 200 \"done\" with Connection: close", resp.StatusCode, b, resp.Close)
	}
	waitClosed(t, busyBR)
	if err := <-shut; err != nil {
		t.Errorf("Shutdown = %v", err)
	}
	if err := s.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve after Shutdown = %v", err)
	}
}

func TestShutdownContext(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	inFlight := make(chan struct{})
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(inFlight)
		<-release
	})}
	addr := start(t, s)
	c, _ := dial(t, addr)
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	<-inFlight
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want DeadlineExceeded", err)
	}
}

func TestSlowloris(t *testing.T) {
	called := false
	s := &Server{ReadHeaderTimeout: 200 * time.Millisecond, IdleTimeout: time.Hour,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called = true })}
	addr := start(t, s)
	c, br := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n")
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := fmt.Fprintf(c, "X-%d: y\r\n", i); err != nil {
				return
			}
		}
	}()
	if got := waitClosed(t, br); got != "" {
		t.Errorf("server answered %q; want the connection closed", got)
	}
	if called {
		t.Error("handler ran")
	}
}

func TestIdleTimeout(t *testing.T) {
	s := &Server{IdleTimeout: 100 * time.Millisecond, ReadHeaderTimeout: time.Hour,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
	addr := start(t, s)
	c, br := dial(t, addr)
	if resp := get(t, c, br, "/"); resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	waitClosed(t, br)
}

func TestConnState(t *testing.T) {
	tests := []struct {
		name string
		send string
		want []http.ConnState
	}{
		{"one request", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", []http.ConnState{http.StateNew, http.StateActive, http.StateIdle, http.StateClosed}},
		{"two requests", "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
			[]http.ConnState{http.StateNew, http.StateActive, http.StateIdle, http.StateActive, http.StateIdle, http.StateClosed}},
		{"bad request", "GET / HTTP/9\r\n\r\n", []http.ConnState{http.StateNew, http.StateActive, http.StateClosed}},
		{"nothing", "", []http.ConnState{http.StateNew, http.StateClosed}},
		{"close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", []http.ConnState{http.StateNew, http.StateActive, http.StateClosed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var got, prevs []http.ConnState
			closed := make(chan struct{})
			s := &Server{
				Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}),
				ConnStateChange: func(prev, next http.ConnState) {
					mu.Lock()
					prevs = append(prevs, prev)
					mu.Unlock()
				},
				ConnState: func(_ net.Conn, st http.ConnState) {
					mu.Lock()
					got = append(got, st)
					mu.Unlock()
					if st == http.StateClosed {
						close(closed)
					}
				},
			}
			addr := start(t, s)
			c, br := dial(t, addr)
			io.WriteString(c, tt.send)
			c.(*net.TCPConn).CloseWrite()
			waitClosed(t, br)
			<-closed
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(got, tt.want) {
				t.Errorf("states = %v, want %v", got, tt.want)
			}
			// ConnStateChange: each state left, StateNew for the first
			wantPrev := append([]http.ConnState{http.StateNew}, tt.want[:len(tt.want)-1]...)
			if !slices.Equal(prevs, wantPrev) {
				t.Errorf("previous states = %v, want %v", prevs, wantPrev)
			}
		})
	}
}

func TestPanic(t *testing.T) {
	tests := []struct {
		name    string
		value   any
		wantLog bool
	}{
		{"value", "boom", true},
		{"abort", http.ErrAbortHandler, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf syncBuffer
			s := &Server{ErrorLog: log.New(&buf, "", 0), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(200)
				panic(tt.value)
			})}
			addr := start(t, s)
			c, br := dial(t, addr)
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
			if got := waitClosed(t, br); got != "" {
				t.Errorf("got %q, want the connection closed without a response", got)
			}
			s.Close()
			if logged := strings.Contains(buf.String(), "boom"); logged != tt.wantLog {
				t.Errorf("logged %q; want logged=%v", buf.String(), tt.wantLog)
			}
		})
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestContext(t *testing.T) {
	got := make(chan context.Context, 1)
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr); !ok {
			t.Error("no *net.TCPAddr under LocalAddrContextKey")
		}
		got <- r.Context()
		<-r.Context().Done()
	})}
	addr := start(t, s)
	c, _ := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	ctx := <-got
	if ctx.Err() != nil {
		t.Fatal("context done before Close")
	}
	s.Close()
	<-ctx.Done() // Close cancels it
}

func TestUnreadBody(t *testing.T) {
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path)
	})}
	addr := start(t, s)
	tests := []struct {
		name      string
		size      int
		wantClose bool
	}{
		{"small body drained", 1 << 10, false},
		{"large body closes", 1 << 20, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, br := dial(t, addr)
			go func() {
				fmt.Fprintf(c, "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n", tt.size)
				c.Write(bytes.Repeat([]byte("b"), tt.size))
			}()
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			io.ReadAll(resp.Body)
			if resp.Close != tt.wantClose {
				t.Errorf("Close = %v, want %v", resp.Close, tt.wantClose)
			}
			if !tt.wantClose {
				if resp := get(t, c, br, "/next"); resp.StatusCode != 200 {
					t.Errorf("next request: %d", resp.StatusCode)
				}
			}
		})
	}
}

func TestBodyReadAfterHandler(t *testing.T) {
	late := make(chan error, 1)
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := r.Body
		go func() {
			time.Sleep(20 * time.Millisecond)
			_, err := b.Read(make([]byte, 10))
			late <- err
		}()
	})}
	addr := start(t, s)
	c, br := dial(t, addr)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc")
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	}
	if err := <-late; err != http.ErrBodyReadAfterClose {
		t.Errorf("late Read = %v, want ErrBodyReadAfterClose", err)
	}
}

func TestExpectContinueUnread(t *testing.T) {
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
	})}
	addr := start(t, s)
	c, br := dial(t, addr)
	io.WriteString(c, "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 413 || !resp.Close {
		t.Errorf("got %d close=%v, want 413 with Connection: close and no 100 Continue", resp.StatusCode, resp.Close)
	}
}

func TestResponseController(t *testing.T) {
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		for _, err := range []error{
			rc.SetReadDeadline(time.Now().Add(time.Minute)),
			rc.SetWriteDeadline(time.Now().Add(time.Minute)),
			rc.EnableFullDuplex(),
		} {
			if err != nil {
				t.Error(err)
			}
		}
		io.WriteString(w, "a")
		if err := rc.Flush(); err != nil {
			t.Error(err)
		}
		io.WriteString(w, "b")
	})}
	addr := start(t, s)
	c, br := dial(t, addr)
	for range 2 {
		resp := get(t, c, br, "/")
		b, _ := io.ReadAll(resp.Body)
		if string(b) != "ab" || resp.TransferEncoding == nil {
			t.Errorf("body %q TE %v; want \"ab\" chunked", b, resp.TransferEncoding)
		}
	}
}

func TestMaxHeaderBytes(t *testing.T) {
	s := &Server{MaxHeaderBytes: 100, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
	addr := start(t, s)
	tests := []struct {
		size int
		want int
	}{
		{3000, 200}, // within the 4 KiB net/http adds
		{5000, 431},
	}
	for _, tt := range tests {
		c, br := dial(t, addr)
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: a\r\nX: %s\r\n\r\n", strings.Repeat("v", tt.size))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != tt.want {
			t.Errorf("%d-byte header: %d, want %d", tt.size, resp.StatusCode, tt.want)
		}
	}
}

// TestRequests_hammer runs many connections at once, each checking that its handler
// sees its own request whole although Request, Header and URL are reused.
func TestRequests_hammer(t *testing.T) {
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s|%s|%s|%s", r.URL.Path, r.URL.RawQuery, r.Header.Get("X-Id"), b)
	})}
	addr := start(t, s)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			br := bufio.NewReader(c)
			for i := range 200 {
				id := fmt.Sprintf("%d-%d", g, i)
				body := strings.Repeat("x", i%7)
				fmt.Fprintf(c, "POST /p/%s?q=%s HTTP/1.1\r\nHost: a\r\nX-Id: %s\r\nContent-Length: %d\r\n\r\n%s", id, id, id, len(body), body)
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				if want := "/p/" + id + "|q=" + id + "|" + id + "|" + body; string(b) != want {
					t.Errorf("got %q, want %q", b, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestIsConnContext(t *testing.T) {
	got := make(chan bool, 3)
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		got <- IsConnContext(ctx)
		got <- IsConnContext(context.WithValue(ctx, struct{}{}, 1)) // same Done
		child, cancel := context.WithCancel(ctx)
		defer cancel()
		got <- IsConnContext(child) // ends on its own
	})}
	addr := start(t, s)
	c, br := dial(t, addr)
	resp := get(t, c, br, "/")
	resp.Body.Close()
	for i, want := range []bool{true, true, false} {
		if g := <-got; g != want {
			t.Errorf("case %d: IsConnContext = %v, want %v", i, g, want)
		}
	}
	if IsConnContext(context.Background()) {
		t.Error("IsConnContext(Background) = true")
	}
}

func TestDeadlineHolds(t *testing.T) {
	now := time.Now()
	d := time.Minute // slack: a 64th, 937.5 ms
	tests := []struct {
		name  string
		armed time.Time
		want  bool
	}{
		{"none armed", time.Time{}, false},
		{"exactly the wanted one", now.Add(d), true},
		{"a little short", now.Add(d - 500*time.Millisecond), true},
		{"short by more than the slack", now.Add(d - 2*time.Second), false},
		{"later than wanted", now.Add(d + time.Millisecond), false},
	}
	for _, tt := range tests {
		if got := DeadlineHolds(tt.armed, now.Add(d), d); got != tt.want {
			t.Errorf("%s: DeadlineHolds = %v, want %v", tt.name, got, tt.want)
		}
	}
	// a short wait gets a proportionate slack: 10 s may be 156 ms short, not 500 ms
	if DeadlineHolds(now.Add(10*time.Second-500*time.Millisecond), now.Add(10*time.Second), 10*time.Second) {
		t.Error("a 10 s wait kept a deadline 500 ms short")
	}
}
