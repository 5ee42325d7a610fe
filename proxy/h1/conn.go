package h1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

const bufSize = 4 << 10

var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, bufSize) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, bufSize) }}
	holdPool   = sync.Pool{New: func() any { b := make([]byte, 0, bufferBeforeChunking); return &b }}
)

// conn is one client connection. Everything a request needs is made once here and
// reused: the Request, its Header map and URL, the ResponseWriter and its header.
type conn struct {
	srv    *Server
	rwc    net.Conn
	remote string
	ctx    context.Context
	cancel context.CancelFunc
	state  atomic.Uint64 // http.ConnState | unix seconds << 8

	br   *bufio.Reader
	bw   *bufio.Writer
	tmpl *http.Request // carries ctx; copied into req for each request
	req  *http.Request
	hdr  http.Header
	w    response
	p    head
	head []byte // a request head that did not fit the reader's buffer
	hb   *[]byte

	werr             error
	rdArmed, wdArmed bool      // a read or write deadline may be set
	rdAt             time.Time // the read deadline armRead set; zero: unknown
	userRD           bool      // the handler set a read deadline: BodyReadTimeout stands aside
	hijacked         bool
	lastPOST         bool
}

func (c *conn) noteErr(err error) {
	if err != nil && c.werr == nil {
		c.werr = err
	}
}

func (c *conn) holdBuf() []byte {
	if c.hb == nil {
		c.hb = holdPool.Get().(*[]byte)
	}
	return (*c.hb)[:0]
}

func (c *conn) setState(st http.ConnState) {
	var unix int64
	if st == http.StateNew || st == http.StateIdle {
		unix = time.Now().Unix() // for Shutdown, which looks at no other state's time
	}
	prev := http.ConnState(c.state.Swap(uint64(unix)<<8|uint64(st)) & 0xff)
	switch st {
	case http.StateHijacked, http.StateClosed:
		c.srv.untrack(c)
	}
	if hook := c.srv.ConnStateChange; hook != nil {
		hook(prev, st)
	}
	if hook := c.srv.ConnState; hook != nil {
		hook(c.rwc, st)
	}
}

func (c *conn) getState() (http.ConnState, int64) {
	v := c.state.Load()
	return http.ConnState(v & 0xff), int64(v >> 8)
}

// setReadDeadline arms the read deadline d from now, or clears it for d == 0.
func (c *conn) setReadDeadline(d time.Duration) {
	c.rdAt = time.Time{}
	if d > 0 {
		c.rwc.SetReadDeadline(time.Now().Add(d))
		c.rdArmed = true
	} else if c.rdArmed {
		c.rwc.SetReadDeadline(time.Time{})
		c.rdArmed = false
	}
}

// armIdle arms the wait for the next request: IdleTimeout from now, or the deadline
// this connection armed for the same wait when DeadlineHolds.
func (c *conn) armIdle(d time.Duration) {
	if d <= 0 {
		c.setReadDeadline(0)
		return
	}
	c.armReadLazily(d)
}

// armReadLazily arms the read deadline d from now, unless the one armed already holds
// for it (DeadlineHolds). It reports whether it moved the deadline.
func (c *conn) armReadLazily(d time.Duration) bool {
	want := time.Now().Add(d)
	if c.rdArmed && DeadlineHolds(c.rdAt, want, d) {
		return false
	}
	c.rwc.SetReadDeadline(want)
	c.rdArmed, c.rdAt = true, want
	return true
}

// DeadlineHolds reports whether a deadline armed earlier (zero: none known) may stand
// for a wait of d that should end at want: it is not later and falls short by less than
// a 64th of d, at most a second. Moving a deadline is a runtime timer update and a
// clock read that a connection carrying requests back to back would otherwise pay for
// each; the wait may so end up to that much early.
func DeadlineHolds(armed, want time.Time, d time.Duration) bool {
	return !armed.IsZero() && !armed.After(want) && want.Sub(armed) < min(d/64, time.Second)
}

func (c *conn) hijack() {
	c.hijacked = true
	c.rwc.SetDeadline(time.Time{})
	c.rdArmed, c.rdAt = false, time.Time{}
	c.setState(http.StateHijacked)
}

// serve reads requests and runs the handler for each, in order, on this goroutine.
func (c *conn) serve() {
	s := c.srv
	defer c.end()
	c.br = readerPool.Get().(*bufio.Reader)
	c.br.Reset(c.rwc)
	c.bw = writerPool.Get().(*bufio.Writer)
	c.bw.Reset(c.rwc)
	c.tmpl = (&http.Request{}).WithContext(c.ctx)
	c.req = new(http.Request)
	c.hdr = make(http.Header, 16)
	c.w.c, c.w.header = c, make(http.Header, 8)

	c.setReadDeadline(s.ReadHeaderTimeout) // the first request's, from accept as net/http
	for first := true; ; first = false {
		if !first {
			if c.br.Buffered() == 0 {
				c.armIdle(s.IdleTimeout)
				if _, err := c.br.Peek(1); err != nil {
					return
				}
			}
			// ReadHeaderTimeout bounds reading the rest of the head; a head that came
			// whole (the common case: one segment) has nothing left to wait for
			if buf, _ := c.br.Peek(c.br.Buffered()); !bytes.Contains(buf, crlfcrlf) {
				c.setReadDeadline(s.ReadHeaderTimeout)
			}
		}
		if c.lastPOST {
			// RFC 9112 §2.2 tolerance for clients that end a POST body with CRLF
			p, _ := c.br.Peek(4)
			n := 0
			for n < len(p) && (p[n] == '\r' || p[n] == '\n') {
				n++
			}
			c.br.Discard(n)
		}
		r := c.req
		*r = *c.tmpl
		clear(c.hdr)
		raw, fast, err := c.readHead()
		if err != nil {
			if errors.Is(err, io.EOF) && raw == "" || isNetReadError(err) {
				return
			}
			c.setState(http.StateActive)
			if err == errHeaderTooLarge {
				c.fail(errHeaderTooLarge)
			} else {
				c.fail(errBadRequest)
			}
			return
		}
		c.setState(http.StateActive)
		end, perr := c.p.parse(raw, r, c.hdr)
		if fast {
			c.br.Discard(end)
		}
		if perr != nil {
			c.fail(perr)
			return
		}
		if c.rdArmed && r.ContentLength != 0 && s.BodyReadTimeout <= 0 {
			// the handler's own timeouts rule reading the body; without one the
			// connection is not read until the next request, whose wait re-arms
			// (with BodyReadTimeout, the body's first read re-arms)
			c.setReadDeadline(0)
		}
		r.RemoteAddr = c.remote
		c.userRD = false

		var b *body
		if r.ContentLength != 0 {
			b = &body{c: c, req: r, remain: r.ContentLength}
			if c.p.chunked {
				b.cr, b.remain = newChunkedReader(c.br), 0
			}
			r.Body = b
		} else {
			r.Body = http.NoBody
		}
		w := &c.w
		if c.p.expectOther {
			w.reset(r, nil, &c.p)
			w.header.Set("Connection", "close")
			w.WriteHeader(http.StatusExpectationFailed)
			w.finish()
			return
		}
		w.reset(r, b, &c.p)
		if c.p.expectContinue && b != nil && r.ProtoAtLeast(1, 1) {
			b.cont = true
			w.canWriteContinue.Store(true)
		}

		h := s.Handler
		if h == nil {
			h = http.DefaultServeMux
		}
		if r.RequestURI == "*" && r.Method == http.MethodOptions {
			h = optionsHandler{}
		}
		h.ServeHTTP(w, r)
		if c.hijacked {
			return
		}
		w.finish()
		if c.wdArmed {
			c.rwc.SetWriteDeadline(time.Time{})
			c.wdArmed = false
		}
		if !w.reusable() {
			if w.lingerClose {
				c.closeWriteAndWait()
			}
			return
		}
		c.setState(http.StateIdle)
		if s.shuttingDown() {
			return
		}
		c.lastPOST = r.Method == http.MethodPost
		if cap(c.head) > 64<<10 {
			c.head = nil
		}
	}
}

// end closes the connection (unless hijacked) whatever made serve return, a
// handler's panic included.
func (c *conn) end() {
	if p := recover(); p != nil && p != http.ErrAbortHandler {
		const size = 64 << 10
		buf := make([]byte, size)
		buf = buf[:runtime.Stack(buf, false)]
		c.srv.logf("h1: panic serving %v: %v\n%s", c.remote, p, buf)
	}
	c.cancel()
	if c.hijacked {
		if c.hb != nil {
			holdPool.Put(c.hb)
		}
		return
	}
	if b := c.w.body; b != nil {
		b.abort()
	}
	if c.bw != nil {
		c.bw.Flush()
	}
	c.rwc.Close()
	if c.br != nil {
		c.br.Reset(nil)
		readerPool.Put(c.br)
	}
	if c.bw != nil {
		c.bw.Reset(nil)
		writerPool.Put(c.bw)
	}
	if c.hb != nil {
		holdPool.Put(c.hb)
	}
	c.setState(http.StateClosed)
}

var crlfcrlf = []byte("\r\n\r\n")

// readHead reads a request line and headers, up to the blank line. fast: raw is a copy
// of the reader's buffer, which the caller discards up to where parse says the head
// ended; otherwise the head was consumed. Past MaxHeaderBytes (+4 KiB, as net/http)
// it is errHeaderTooLarge.
func (c *conn) readHead() (raw string, fast bool, err error) {
	if _, err := c.br.Peek(1); err != nil {
		return "", false, err
	}
	if buf, _ := c.br.Peek(c.br.Buffered()); len(buf) > 0 {
		if i := bytes.Index(buf, crlfcrlf); i >= 0 {
			return string(buf[:i+4]), true, nil
		}
	}
	limit := c.srv.maxHeaderBytes() + 4096
	b := c.head[:0]
	lineStart := 0
	for {
		frag, err := c.br.ReadSlice('\n')
		if len(b)+len(frag) > limit {
			c.head = b
			return "", false, errHeaderTooLarge
		}
		b = append(b, frag...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			c.head = b
			if err == io.EOF && len(b) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return string(b), false, err
		}
		if n := len(b) - lineStart; lineStart > 0 && (n == 1 || n == 2 && b[len(b)-2] == '\r') {
			break
		}
		lineStart = len(b)
	}
	c.head = b
	return string(b), false, nil
}

// isNetReadError is net/http's isCommonNetReadError: the client went away or was too
// slow; nothing is answered.
func isNetReadError(err error) bool {
	if err == io.EOF {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "read"
}

// fail answers a request refused before its handler, as net/http words it, and lets
// the client read the answer before the connection closes.
func (c *conn) fail(e *statusError) {
	resp := errorResponses[e]
	if resp == nil {
		resp = e.response()
	}
	c.bw.Write(resp)
	c.closeWriteAndWait()
}

// closeWriteAndWait flushes, sends FIN, and reads what the client still sends for a
// short while, so closing does not reset the connection before it read our answer.
// Like nginx's lingering_time the bound is time, not bytes: a client still pushing a
// large body it was refused (a 413, a 504 on a stalled upstream) finishes its write
// into our discard loop and then reads the answer, where a byte cap would reset it
// mid-write and lose the answer.
func (c *conn) closeWriteAndWait() {
	if err := c.bw.Flush(); err != nil {
		return
	}
	if cw, ok := c.rwc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	c.rwc.SetReadDeadline(time.Now().Add(rstAvoidanceDelay))
	c.rdArmed, c.rdAt = true, time.Time{}
	c.br.Discard(c.br.Buffered())
	bp := scratchPool.Get().(*[]byte)
	defer scratchPool.Put(bp)
	for {
		if _, err := c.rwc.Read(*bp); err != nil {
			return
		}
	}
}

const rstAvoidanceDelay = 500 * time.Millisecond

// optionsHandler answers "OPTIONS *" as net/http's globalOptionsHandler.
type optionsHandler struct{}

func (optionsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Length", "0")
	if r.ContentLength != 0 {
		mb := http.MaxBytesReader(w, r.Body, 4<<10)
		io.Copy(io.Discard, mb)
	}
}
