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
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/portico-gw/portico/proxy/h1"
	"github.com/portico-gw/portico/store"
)

// h1Client is the upstream client for plain-HTTP/1.1 upstreams. Unlike http.Transport it
// has no goroutine per connection: the handler's goroutine writes the request (one write
// for the head and a small body) and reads the response, and the response body hands the
// connection back to the pool when it is read to the end. net/http's writeLoop/readLoop
// pair and the channel hand-offs between them were ~37 % of the proxy's CPU under load
// (bench/portico-perf.txt).
//
// Connections are pooled per node address, newest first, bounded by keepalive_pool:
// size (idle connections per address), idle_timeout and requests (per connection). A
// connection that saw any error, or whose response was not read to its end, is closed.
//
// HTTPS, gRPC over TLS and WebSocket upgrades keep using http.Transport (forward.go
// picks it for upgrades); a request this client cannot write as net/http would (a
// non-ASCII Host) goes to fallback, the upstream's http.Transport.
type h1Client struct {
	dialer   net.Dialer
	respTO   time.Duration // response header timeout (the upstream's read timeout)
	sendTO   time.Duration // bound on each write of the request (the upstream's send timeout)
	maxIdle  int           // idle connections kept per address
	idleTO   time.Duration
	maxReqs  int // requests per connection; 0: no limit
	fallback *http.Transport

	pools map[string]*connPool // per node address, built once: read without a lock
	mu    sync.Mutex
	extra map[string]*connPool // addresses that were not nodes at construction
}

// APISIX's keepalive_pool defaults.
const (
	defaultPoolSize    = 320
	defaultIdleTimeout = 60 * time.Second
	defaultPoolReqs    = 1000
)

// probeAfter: a pooled connection idle longer than this is checked (one non-blocking
// peek) before it is used, so a connection the upstream closed meanwhile (its keep-alive
// timeout, e.g. Node's 5 s) is not picked for a request that could not be retried.
const probeAfter = 500 * time.Millisecond

// maxHeaderBytes bounds what is read for a response header, as net/http's
// MaxResponseHeaderBytes default does.
const maxHeaderBytes = 10 << 20

var errHeaderTooLarge = errors.New("proxy: upstream response header too large")

// max1xx bounds the interim (1xx) responses skipped before the final one.
const max1xx = 10

func newH1Client(addrs []string, u *store.Upstream, t store.Timeout, fallback *http.Transport) *h1Client {
	c := &h1Client{
		dialer:   net.Dialer{Timeout: secs(t.Connect), KeepAlive: 30 * time.Second},
		respTO:   secs(t.Read),
		sendTO:   secs(t.Send),
		maxIdle:  defaultPoolSize,
		idleTO:   defaultIdleTimeout,
		maxReqs:  defaultPoolReqs,
		fallback: fallback,
		pools:    make(map[string]*connPool, len(addrs)),
	}
	if kp := u.KeepalivePool; kp != nil {
		if kp.Size > 0 {
			c.maxIdle = kp.Size
		}
		if kp.IdleTimeout > 0 {
			c.idleTO = time.Duration(kp.IdleTimeout * float64(time.Second))
		}
		if kp.Requests > 0 {
			c.maxReqs = kp.Requests
		}
	}
	for _, a := range addrs {
		c.pools[a] = &connPool{c: c, addr: a}
	}
	return c
}

func (c *h1Client) pool(addr string) *connPool {
	if p := c.pools[addr]; p != nil {
		return p
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.extra[addr]
	if p == nil {
		if c.extra == nil {
			c.extra = map[string]*connPool{}
		}
		p = &connPool{c: c, addr: addr}
		c.extra[addr] = p
	}
	return p
}

// CloseIdleConnections closes the pooled connections; connections in use are closed or
// pooled when their response ends, and pooled ones expire after idle_timeout.
func (c *h1Client) CloseIdleConnections() {
	for _, p := range c.pools {
		p.closeIdle(time.Time{})
	}
	c.mu.Lock()
	for _, p := range c.extra {
		p.closeIdle(time.Time{})
	}
	c.mu.Unlock()
	if c.fallback != nil {
		c.fallback.CloseIdleConnections()
	}
}

// connPool is the idle connections to one address: a stack, oldest at index 0.
type connPool struct {
	c     *h1Client
	addr  string
	mu    sync.Mutex
	idle  []*pconn
	timer *time.Timer // closes expired connections; armed while idle is not empty
	armed bool
}

// pconn is one upstream connection. Only the goroutine using it touches its fields; the
// request context's AfterFunc only closes nc.
type pconn struct {
	nc     net.Conn
	pool   *connPool
	nreq   int             // requests sent on it
	idleAt time.Time       // when it was last pooled
	nread  int64           // bytes read, to tell whether a response had begun
	limit  int64           // nread may not pass it while a response header is read; 0: none
	abort  func()          // closes nc; made once, for context.AfterFunc
	rc     syscall.RawConn // for writeAwait; nil: none
	await  awaitState
	rdAt   time.Time // the read deadline exchange armed; zero: none
	wdSet  bool      // a write deadline was armed: re-arm it for every request
}

func (pc *pconn) Read(p []byte) (int, error) {
	if pc.limit > 0 && pc.nread >= pc.limit {
		return 0, errHeaderTooLarge
	}
	n, err := pc.nc.Read(p)
	pc.nread += int64(n)
	return n, err
}

func (pc *pconn) close() { pc.nc.Close() }

// awaitState is writeAwait's, kept in the connection so that a request allocates no
// closure for RawConn.Read.
type awaitState struct {
	fn    func(fd uintptr) bool
	msg   []byte
	n     int
	err   error
	first bool
}

// smallWrite is the largest request write that needs no send deadline (see exchange).
const smallWrite = 4 << 10

// armRead arms the wait for a response header: d from now, or the deadline armed for
// the previous response when h1.DeadlineHolds.
func (pc *pconn) armRead(now time.Time, d time.Duration) {
	if d <= 0 {
		if !pc.rdAt.IsZero() {
			pc.nc.SetReadDeadline(time.Time{})
			pc.rdAt = time.Time{}
		}
		return
	}
	want := now.Add(d)
	if h1.DeadlineHolds(pc.rdAt, want, d) {
		return
	}
	pc.nc.SetReadDeadline(want)
	pc.rdAt = want
}

// get returns a pooled connection (reused) or dials one, within connectTO (0: the
// client's dialer's); fresh skips the pool.
func (p *connPool) get(ctx context.Context, fresh bool, connectTO time.Duration) (pc *pconn, reused bool, err error) {
	for !fresh {
		p.mu.Lock()
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			break
		}
		pc = p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		idle := time.Since(pc.idleAt)
		if idle >= p.c.idleTO {
			// the newest is expired, so are the older ones
			pc.close()
			p.closeIdle(time.Time{})
			break
		}
		if idle > probeAfter && !connAlive(pc.nc) {
			pc.close()
			continue
		}
		return pc, true, nil
	}
	dialer := &p.c.dialer
	if connectTO > 0 && connectTO != dialer.Timeout {
		d := *dialer
		d.Timeout = connectTO
		dialer = &d
	}
	nc, err := dialer.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, false, err
	}
	pc = &pconn{nc: nc, pool: p, rc: rawConnOf(nc)}
	pc.abort = pc.close
	return pc, false, nil
}

// put pools pc after a complete response, or closes it when the pool is full or pc has
// served its requests.
func (p *connPool) put(pc *pconn) {
	c := p.c
	if c.maxReqs > 0 && pc.nreq >= c.maxReqs {
		pc.close()
		return
	}
	pc.idleAt = time.Now()
	p.mu.Lock()
	if len(p.idle) >= c.maxIdle {
		p.mu.Unlock()
		pc.close()
		return
	}
	p.idle = append(p.idle, pc)
	if !p.armed {
		p.armed = true
		if p.timer == nil {
			p.timer = time.AfterFunc(c.idleTO, p.sweep)
		} else {
			p.timer.Reset(c.idleTO)
		}
	}
	p.mu.Unlock()
}

// sweep closes the connections idle for idle_timeout and re-arms for the next one.
func (p *connPool) sweep() {
	now := time.Now()
	p.mu.Lock()
	i := 0
	for i < len(p.idle) && now.Sub(p.idle[i].idleAt) >= p.c.idleTO {
		i++
	}
	dead := slices.Clone(p.idle[:i])
	n := copy(p.idle, p.idle[i:])
	clear(p.idle[n:])
	p.idle = p.idle[:n]
	if n > 0 {
		p.timer.Reset(p.idle[0].idleAt.Add(p.c.idleTO).Sub(now))
	} else {
		p.armed = false
	}
	p.mu.Unlock()
	for _, pc := range dead {
		pc.close()
	}
}

// closeIdle closes the pooled connections that went idle no later than before; all of
// them when before is zero.
func (p *connPool) closeIdle(before time.Time) {
	p.mu.Lock()
	i := len(p.idle)
	if !before.IsZero() {
		i = 0
		for i < len(p.idle) && !p.idle[i].idleAt.After(before) {
			i++
		}
	}
	dead := slices.Clone(p.idle[:i])
	n := copy(p.idle, p.idle[i:])
	clear(p.idle[n:])
	p.idle = p.idle[:n]
	if n == 0 && p.armed {
		p.timer.Stop()
		p.armed = false
	}
	p.mu.Unlock()
	for _, pc := range dead {
		pc.close()
	}
}

// wbuf is a pooled buffer the request head (and a small body) is built in.
type wbuf struct{ b []byte }

const wbufSize = 16 << 10

var wbufPool = sync.Pool{New: func() any { return &wbuf{b: make([]byte, 0, wbufSize)} }}

var brPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 16<<10) }}

// body modes
const (
	bodyNone     = iota
	bodyBuffered // Content-Length, read into the write buffer: one write, replayable
	bodyStream   // Content-Length too big for the buffer, streamed after the head
	bodyChunked  // length unknown: chunked
)

// RoundTrip sends req on a pooled or new connection to req.URL.Host and reads the
// response header. The response body returns the connection to the pool when it has
// been read to its end (or closes it when closed early). req.Body is read by RoundTrip
// only and is not closed.
func (c *h1Client) RoundTrip(req *http.Request) (*http.Response, error) {
	return c.roundTrip(req, timeouts{connect: c.dialer.Timeout, send: c.sendTO, read: c.respTO})
}

// roundTrip is RoundTrip within to: a route's `timeout` replaces the upstream's for one
// request, as APISIX's balancer sets it.
func (c *h1Client) roundTrip(req *http.Request, to timeouts) (*http.Response, error) {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if !asciiHost(host) {
		if c.fallback == nil {
			return nil, errors.New("proxy: non-ASCII Host needs the fallback transport")
		}
		return c.fallback.RoundTrip(req) // IDNA: net/http's punycode
	}
	ctx := req.Context()
	if ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	mode, cl := bodyNone, req.ContentLength
	if req.Body != nil && req.Body != http.NoBody {
		switch {
		case cl > 0 && cl <= wbufSize-2<<10:
			mode = bodyBuffered
		case cl > 0:
			mode = bodyStream
		default:
			mode, cl = bodyChunked, -1
		}
	} else {
		cl = 0
	}
	wb := wbufPool.Get().(*wbuf)
	defer func() {
		if cap(wb.b) <= 4*wbufSize {
			wb.b = wb.b[:0]
			wbufPool.Put(wb)
		}
	}()
	msg, err := appendRequestHead(wb.b[:0], req, host, mode, cl)
	if err != nil {
		return nil, err
	}
	head := len(msg)
	// retried once on a new connection when a reused one turns out closed: requests
	// without a body or with a buffered one, by an idempotent method (net/http's rule)
	replayable := mode <= bodyBuffered && (idempotent(req.Method) || req.Header["Idempotency-Key"] != nil || req.Header["X-Idempotency-Key"] != nil)
	p := c.pool(req.URL.Host)
	bodyRead := false
	for attempt := 0; ; attempt++ {
		pc, reused, err := p.get(ctx, attempt > 0, to.connect)
		if err != nil {
			if bodyRead {
				// forward retries a dial error on another node, with a body it would
				// have to read again: not after this one
				return nil, bodyConsumed{ctxErr(ctx, err)}
			}
			return nil, ctxErr(ctx, err)
		}
		if mode == bodyBuffered && !bodyRead {
			bodyRead = true
			msg = slices.Grow(msg, int(cl))[:head+int(cl)]
			if _, err := io.ReadFull(req.Body, msg[head:]); err != nil {
				p.put(pc) // unused
				return nil, err
			}
		}
		resp, retry, err := c.exchange(ctx, pc, req, msg, mode, cl, reused, to)
		if err == nil {
			return resp, nil
		}
		if !retry || !reused || attempt > 0 || (!replayable && !errors.Is(err, errNothingWritten)) {
			if errors.Is(err, errNothingWritten) {
				err = errors.Unwrap(err)
			}
			return nil, ctxErr(ctx, err)
		}
		// the server closed the pooled connection: those pooled before it likely too
		p.closeIdle(pc.idleAt)
	}
}

// timeouts bound one exchange: the dial, each write of the request, the wait for the
// response header (nginx's proxy_connect/send/read_timeout).
type timeouts struct{ connect, send, read time.Duration }

// bodyConsumed hides that err is a dial error (the request body was read already) but
// keeps whether it is a timeout.
type bodyConsumed struct{ err error }

func (e bodyConsumed) Error() string   { return e.err.Error() }
func (e bodyConsumed) Timeout() bool   { return isTimeout(e.err) }
func (e bodyConsumed) Temporary() bool { return false }

// errNothingWritten wraps a write error on a connection that took no byte of the request.
var errNothingWritten = errors.New("nothing written")

type nothingWritten struct{ err error }

func (e nothingWritten) Error() string        { return e.err.Error() }
func (e nothingWritten) Unwrap() error        { return e.err }
func (e nothingWritten) Is(target error) bool { return target == errNothingWritten }

// exchange writes msg (the head, with the body when buffered) and the streamed body on pc,
// and reads the response header. retry reports a failure that looks like a connection the
// server had closed while it was pooled, before any byte of the response.
func (c *h1Client) exchange(ctx context.Context, pc *pconn, req *http.Request, msg []byte, mode int, cl int64, reused bool, to timeouts) (resp *http.Response, retry bool, err error) {
	var stop func() bool
	if ctx.Done() != nil && !h1.IsConnContext(ctx) {
		// a route's timeout, or net/http's server noticing the client left: cut the
		// exchange (h1's own context only ends once the handler returned)
		stop = context.AfterFunc(ctx, pc.abort)
	}
	fail := func(err error) (*http.Response, bool, error) {
		if stop != nil {
			stop()
		}
		pc.close()
		return nil, retry, err
	}
	pc.nreq++
	now := time.Now()
	var w io.Writer = pc.nc
	if to.send > 0 && (mode >= bodyStream || len(msg) > smallWrite || pc.wdSet) {
		// timeout.send, as nginx's proxy_send_timeout: between two successive writes.
		// A small request on a connection that only ever carried small ones cannot
		// block (the socket's send buffer holds it whole), so it needs no deadline.
		pc.nc.SetWriteDeadline(now.Add(to.send))
		pc.wdSet = true
		w = sendWriter{pc.nc, to.send}
	}
	var n int
	if mode < bodyStream && pc.rc != nil {
		// the whole request is msg: written, then parked until the answer comes
		pc.armRead(now, to.read)
		var werr, rerr error
		n, werr, rerr = pc.writeAwait(msg)
		if werr == nil && rerr == nil && n < len(msg) {
			// the socket took part of it: the rest may block, under the send timeout
			var m int
			if to.send > 0 {
				pc.wdSet = true
				m, werr = sendWriter{pc.nc, to.send}.Write(msg[n:])
			} else {
				m, werr = pc.nc.Write(msg[n:])
			}
			n += m
		}
		if rerr != nil {
			// as a failed read of the answer: the request went out whole
			return fail(rerr)
		}
		err = werr
	} else {
		n, err = pc.nc.Write(msg)
	}
	if err != nil {
		if n == 0 && reused {
			retry = true
			err = nothingWritten{err}
		} else {
			retry = reused && connLost(err)
		}
		return fail(err)
	}
	if mode >= bodyStream {
		if toUpstream, err := writeBody(w, req, msg[:0:cap(msg)], mode, cl); err != nil {
			// an upstream may answer (413, 401) and close without reading the rest
			if toUpstream && !errors.Is(err, net.ErrClosed) {
				if resp := earlyResponse(pc, req); resp != nil {
					if stop != nil {
						stop()
					}
					return resp, false, nil
				}
			}
			return fail(err)
		}
	}
	start := pc.nread
	br := brPool.Get().(*bufio.Reader)
	br.Reset(pc)
	pc.armRead(now, to.read)
	pc.limit = start + maxHeaderBytes
	resp, err = readResponse(br, req, true)
	pc.limit = 0
	if err != nil {
		br.Reset(nil)
		brPool.Put(br)
		retry = reused && pc.nread == start && connLost(err)
		return fail(err)
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// not asked for (upgrades go through http.Transport): no connection to hand out
		br.Reset(nil)
		brPool.Put(br)
		fail(nil)
		resp.Body = http.NoBody
		return resp, false, nil
	}
	b := &h1Body{rc: resp.Body, remain: resp.ContentLength, pc: pc, br: br, stop: stop, close: resp.Close || req.Close, ctx: ctx}
	if resp.Body == http.NoBody {
		b.finish(true)
		return resp, false, nil
	}
	if resp.ContentLength < 0 || int64(br.Buffered()) < resp.ContentLength {
		pc.nc.SetReadDeadline(time.Time{}) // the body is read without a deadline
		pc.rdAt = time.Time{}
	} // else the whole body is buffered: nc is not read again before the next deadline
	resp.Body = b
	return resp, false, nil
}

// readResponse reads the final response, skipping interim 1xx ones other than 101.
// When fast, a head h1.ParseResponseHead takes is read without net/http (about a third
// of the allocations); its body of resp.ContentLength bytes is then left in br, with
// resp.Body nil, for h1Body to read.
func readResponse(br *bufio.Reader, req *http.Request, fast bool) (*http.Response, error) {
	for i := 0; ; i++ {
		var resp *http.Response
		if fast {
			resp = fastResponse(br, req)
		}
		if resp == nil {
			var err error
			if resp, err = http.ReadResponse(br, req); err != nil {
				return nil, err
			}
		}
		if resp.StatusCode < 100 || resp.StatusCode > 199 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp, nil
		}
		if i >= max1xx {
			return nil, errors.New("proxy: too many 1xx responses from the upstream")
		}
	}
}

var endOfHead = []byte("\r\n\r\n")

// fastResponse is the response whose whole head is in br after at most one read and
// that h1.ParseResponseHead takes, or nil with nothing of br consumed.
func fastResponse(br *bufio.Reader, req *http.Request) *http.Response {
	if _, err := br.Peek(1); err != nil {
		return nil // http.ReadResponse gives the error
	}
	buf, _ := br.Peek(br.Buffered())
	end := bytes.Index(buf, endOfHead)
	if end < 0 {
		return nil
	}
	end += len(endOfHead)
	head := req.Method == http.MethodHead
	resp := &http.Response{Request: req}
	if !h1.ParseResponseHead(string(buf[:end]), head, resp) {
		return nil
	}
	br.Discard(end)
	if head || resp.ContentLength == 0 {
		resp.Body = http.NoBody
	}
	return resp
}

// earlyResponse reads a response the upstream may have sent before it stopped reading
// the request body; the connection is not reused after it.
func earlyResponse(pc *pconn, req *http.Request) *http.Response {
	br := bufio.NewReaderSize(pc, 4<<10)
	pc.nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	resp, err := readResponse(br, req, false)
	if err != nil || resp.StatusCode == http.StatusSwitchingProtocols {
		pc.close()
		return nil
	}
	pc.nc.SetReadDeadline(time.Time{})
	resp.Close = true
	resp.Body = &h1Body{rc: resp.Body, pc: pc, br: nil, close: true}
	return resp
}

// writeBody streams req.Body after the head: cl bytes, or chunked. buf is scratch space.
// Every read from the client is written at once, so a slow client's body streams.
// toUpstream tells a failed write from a failed read of the client's body.
func writeBody(w io.Writer, req *http.Request, buf []byte, mode int, cl int64) (toUpstream bool, err error) {
	buf = buf[:cap(buf)]
	const pre = 10 // room for a chunk header: up to 8 hex digits and CRLF
	data := buf[pre : len(buf)-2]
	var sent int64
	for {
		p := data
		if mode == bodyStream && int64(len(p)) > cl-sent {
			p = p[:cl-sent]
		}
		n, rerr := req.Body.Read(p)
		if n > 0 {
			sent += int64(n)
			out := buf[pre : pre+n]
			if mode == bodyChunked {
				var h [pre]byte
				hs := strconv.AppendInt(h[:0], int64(n), 16)
				hs = append(hs, '\r', '\n')
				start := pre - len(hs)
				copy(buf[start:], hs)
				out = append(buf[start:pre+n], '\r', '\n')
			}
			if _, err := w.Write(out); err != nil {
				return true, err
			}
		}
		if mode == bodyStream && sent == cl {
			return false, nil
		}
		if rerr == io.EOF {
			if mode == bodyStream {
				return false, fmt.Errorf("http: ContentLength=%d with Body length %d", cl, sent)
			}
			return true, writeLastChunk(w, req.Trailer, buf[:0])
		}
		if rerr != nil {
			return false, rerr
		}
	}
}

// sendWriter gives each write of a streamed request body the send timeout.
type sendWriter struct {
	nc net.Conn
	to time.Duration
}

func (w sendWriter) Write(p []byte) (int, error) {
	w.nc.SetWriteDeadline(time.Now().Add(w.to))
	return w.nc.Write(p)
}

func writeLastChunk(w io.Writer, trailer http.Header, b []byte) error {
	b = append(b, "0\r\n"...)
	for k, vs := range trailer {
		var err error
		if b, err = appendHeader(b, k, vs); err != nil {
			return err
		}
	}
	b = append(b, "\r\n"...)
	_, err := w.Write(b)
	return err
}

// h1Body is a response body on a pooled connection: read to its end it pools the
// connection, closed before that it closes it. Read and Close are not safe to call
// concurrently.
type h1Body struct {
	rc     io.ReadCloser // http.ReadResponse's body, reading br; nil: remain bytes of br
	remain int64
	pc     *pconn
	br     *bufio.Reader // pooled; nil after earlyResponse
	stop   func() bool   // stops the context's AfterFunc
	close  bool          // the connection is not reusable after this response
	ctx    context.Context
	done   bool
	err    error
}

func (b *h1Body) Read(p []byte) (int, error) {
	if b.done {
		if b.err != nil {
			return 0, b.err
		}
		return 0, io.EOF
	}
	var (
		n   int
		err error
	)
	if b.rc != nil {
		n, err = b.rc.Read(p)
	} else {
		if int64(len(p)) > b.remain {
			p = p[:b.remain]
		}
		n, err = b.br.Read(p)
		b.remain -= int64(n)
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		} else if err == nil && b.remain == 0 {
			err = io.EOF // at once: the connection goes back to the pool before the next Read
		}
	}
	if err == io.EOF {
		b.finish(true)
	} else if err != nil {
		if b.ctx != nil {
			err = ctxErr(b.ctx, err)
		}
		b.err = err
		b.finish(false)
	}
	return n, err
}

func (b *h1Body) Close() error {
	if !b.done {
		b.finish(false)
	}
	return nil
}

// finish ends the response: the connection goes back to the pool when ok and nothing
// speaks against reuse, else it is closed. ReadResponse's body is not closed: its Close
// would read the rest.
func (b *h1Body) finish(ok bool) {
	b.done = true
	if b.stop != nil && !b.stop() {
		ok = false // the context closed the connection
	}
	if b.br != nil {
		if b.br.Buffered() > 0 {
			ok = false // bytes past the response: out of step
		}
		b.br.Reset(nil)
		brPool.Put(b.br)
		b.br = nil
	}
	if ok && !b.close {
		b.pc.pool.put(b.pc)
	} else {
		b.pc.close()
	}
}

// ctxErr is the context's cause when it ended (the connection was closed for it), as
// net/http reports it; err otherwise.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return err
}

// connLost: the server closed or reset the connection.
func connLost(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED)
}

// appendRequestHead appends the request line and header as net/http's Request.Write
// would send them (Host, User-Agent, Content-Length or chunked, Trailer, the rest of the
// header; invalid names and values refused, values trimmed).
func appendRequestHead(b []byte, req *http.Request, host string, mode int, cl int64) ([]byte, error) {
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	b = append(b, method...)
	b = append(b, ' ')
	u := req.URL
	start := len(b)
	switch {
	case u.Opaque != "":
		b = append(b, u.Opaque...)
	default:
		if p := u.EscapedPath(); p == "" {
			b = append(b, '/')
		} else {
			b = append(b, p...)
		}
	}
	if u.ForceQuery || u.RawQuery != "" {
		b = append(b, '?')
		b = append(b, u.RawQuery...)
	}
	for _, ch := range b[start:] {
		if ch < ' ' || ch == 0x7f {
			return b, errors.New("net/http: can't write control character in Request.URL")
		}
	}
	b = append(b, " HTTP/1.1\r\nHost: "...)
	if validHostHeader(host) {
		b = append(b, removeZone(host)...)
	} // else an empty Host, as net/http sends
	b = append(b, "\r\n"...)
	if vs, ok := req.Header["User-Agent"]; !ok {
		b = append(b, "User-Agent: Go-http-client/1.1\r\n"...)
	} else if len(vs) > 0 && trimOWS(vs[0]) != "" {
		if !validHeaderValue(vs[0]) {
			return b, fmt.Errorf("net/http: invalid header field value for %q", "User-Agent")
		}
		b = append(b, "User-Agent: "...)
		b = append(b, trimOWS(vs[0])...)
		b = append(b, "\r\n"...)
	}
	if req.Close {
		b = append(b, "Connection: close\r\n"...)
	}
	switch {
	case mode == bodyChunked:
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
		if len(req.Trailer) > 0 {
			keys := make([]string, 0, len(req.Trailer))
			for k := range req.Trailer {
				k = http.CanonicalHeaderKey(k)
				switch k {
				case "Transfer-Encoding", "Trailer", "Content-Length":
					return b, fmt.Errorf("net/http: invalid Trailer key %q", k)
				}
				keys = append(keys, k)
			}
			slices.Sort(keys)
			b = append(b, "Trailer: "...)
			for i, k := range keys {
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, k...)
			}
			b = append(b, "\r\n"...)
		}
	case cl > 0 || method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch:
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, cl, 10)
		b = append(b, "\r\n"...)
	}
	for k, vs := range req.Header {
		switch k {
		case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		}
		var err error
		if b, err = appendHeader(b, k, vs); err != nil {
			return b, err
		}
	}
	return append(b, "\r\n"...), nil
}

func appendHeader(b []byte, k string, vs []string) ([]byte, error) {
	if !validHeaderName(k) {
		return b, fmt.Errorf("net/http: invalid header field name %q", k)
	}
	for _, v := range vs {
		if !validHeaderValue(v) {
			return b, fmt.Errorf("net/http: invalid header field value for %q", k)
		}
		b = append(b, k...)
		b = append(b, ": "...)
		b = append(b, trimOWS(v)...)
		b = append(b, "\r\n"...)
	}
	return b, nil
}

// trimOWS is textproto.TrimString.
func trimOWS(s string) string {
	for len(s) > 0 && isOWS(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isOWS(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func isOWS(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

// validHeaderName is httpguts.ValidHeaderFieldName: a non-empty token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// validHeaderValue is httpguts.ValidHeaderFieldValue: no control byte but tab.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// validHostHeader is httpguts.ValidHostHeader for ASCII hosts.
func validHostHeader(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			continue
		}
		switch c {
		case '!', '$', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', ':', ';', '=', '[', ']', '_', '~':
			continue
		}
		return false
	}
	return true
}

func asciiHost(h string) bool {
	for i := 0; i < len(h); i++ {
		if h[i] >= 0x80 {
			return false
		}
	}
	return true
}

// removeZone drops an IPv6 zone from a host ("[fe80::1%en0]:80" → "[fe80::1]:80"), as
// RFC 6874 asks of a client; net/http's removeZone.
func removeZone(host string) string {
	if !strings.HasPrefix(host, "[") {
		return host
	}
	i := strings.LastIndex(host, "]")
	if i < 0 {
		return host
	}
	j := strings.LastIndex(host[:i], "%")
	if j < 0 {
		return host
	}
	return host[:j] + host[i:]
}
