package h1

import (
	"context"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Server serves HTTP/1.x on plain TCP listeners with an http.Handler.
type Server struct {
	Handler           http.Handler  // nil: http.DefaultServeMux
	ReadHeaderTimeout time.Duration // from the first byte of a request to the end of its headers; 0: none
	IdleTimeout       time.Duration // waiting for the next request on a kept-alive connection; 0: none
	// BodyReadTimeout bounds each wait for more of a request body (nginx's
	// client_body_timeout: between two successive reads, not the whole body); a read
	// past it fails with an error whose Timeout() is true. 0: none.
	BodyReadTimeout time.Duration
	MaxHeaderBytes  int // request line + headers (plus 4 KiB, as net/http); 0: 1 MiB
	ConnState       func(net.Conn, http.ConnState)
	// ConnStateChange, when set, is called as ConnState is, with the state the
	// connection leaves (StateNew for a new one): a hook keeping counts per state needs
	// no table of connections to know it.
	ConnStateChange func(prev, next http.ConnState)
	ErrorLog        *log.Logger // nil: discard

	inShutdown atomic.Bool
	mu         sync.Mutex
	closed     bool
	listeners  map[*net.Listener]struct{}
	conns      map[*conn]struct{}
}

func (s *Server) logf(format string, args ...any) {
	if s.ErrorLog != nil {
		s.ErrorLog.Printf(format, args...)
	}
}

func (s *Server) shuttingDown() bool { return s.inShutdown.Load() }

func (s *Server) maxHeaderBytes() int {
	if s.MaxHeaderBytes > 0 {
		return s.MaxHeaderBytes
	}
	return http.DefaultMaxHeaderBytes
}

// Serve accepts connections on ln and serves each on a goroutine of its own. It
// returns http.ErrServerClosed after Shutdown or Close, and closes ln.
func (s *Server) Serve(ln net.Listener) error {
	if !s.trackListener(&ln, true) {
		return http.ErrServerClosed
	}
	defer s.trackListener(&ln, false)
	var delay time.Duration
	for {
		rwc, err := ln.Accept()
		if err != nil {
			if s.shuttingDown() {
				return http.ErrServerClosed
			}
			if te, ok := err.(interface{ Temporary() bool }); ok && te.Temporary() {
				delay = max(5*time.Millisecond, min(2*delay, time.Second))
				s.logf("h1: Accept error: %v; retrying in %v", err, delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		c := &conn{srv: s, rwc: rwc}
		if ra := rwc.RemoteAddr(); ra != nil {
			c.remote = ra.String()
		}
		ctx, cancel := context.WithCancel(context.Background())
		ctx = context.WithValue(ctx, connDoneKey{}, ctx.Done())
		c.ctx, c.cancel = context.WithValue(ctx, http.LocalAddrContextKey, rwc.LocalAddr()), cancel
		if !s.track(c) {
			rwc.Close()
			cancel()
			continue
		}
		c.setState(http.StateNew)
		go c.serve()
	}
}

func (s *Server) trackListener(ln *net.Listener, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !add {
		delete(s.listeners, ln)
		(*ln).Close()
		return true
	}
	if s.shuttingDown() {
		return false
	}
	if s.listeners == nil {
		s.listeners = make(map[*net.Listener]struct{})
	}
	s.listeners[ln] = struct{}{}
	return true
}

func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.conns == nil {
		s.conns = make(map[*conn]struct{})
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *Server) closeListenersLocked() error {
	var err error
	for ln := range s.listeners {
		if cerr := (*ln).Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	return err
}

// Shutdown stops accepting, closes idle connections and waits for the others to
// finish their current response (sent with Connection: close unless its head was
// already out) and close, or for ctx to end.
func (s *Server) Shutdown(ctx context.Context) error {
	s.inShutdown.Store(true)
	s.mu.Lock()
	lnerr := s.closeListenersLocked()
	s.mu.Unlock()

	interval := time.Millisecond
	next := func() time.Duration {
		d := interval + time.Duration(rand.Int64N(int64(interval/10)+1))
		interval = min(2*interval, 500*time.Millisecond)
		return d
	}
	timer := time.NewTimer(next())
	defer timer.Stop()
	for {
		if s.closeIdleConns() {
			return lnerr
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			timer.Reset(next())
		}
	}
}

// closeIdleConns closes the idle connections (and new ones silent for 5 s, as
// net/http) and reports whether none is left.
func (s *Server) closeIdleConns() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	quiescent := true
	for c := range s.conns {
		st, unix := c.getState()
		if st == http.StateNew && unix < time.Now().Unix()-5 {
			st = http.StateIdle
		}
		if st != http.StateIdle || unix == 0 {
			quiescent = false
			continue
		}
		c.rwc.Close()
		delete(s.conns, c)
	}
	return quiescent
}

// Close closes the listeners and every connection now, and cancels their contexts.
func (s *Server) Close() error {
	s.inShutdown.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	err := s.closeListenersLocked()
	for c := range s.conns {
		c.rwc.Close()
		c.cancel()
		delete(s.conns, c)
	}
	return err
}

type connDoneKey struct{}

// IsConnContext reports whether ctx ends only when the connection's context does: the
// context a request of this server carries (or one adding values to it), which is
// cancelled after the connection's last handler returned, or by Close. Work a handler
// waits for needs no watcher (context.AfterFunc) on it: it never ends mid-request but
// by Close, when the process is going away.
func IsConnContext(ctx context.Context) bool {
	d, _ := ctx.Value(connDoneKey{}).(<-chan struct{})
	return d != nil && d == ctx.Done()
}
