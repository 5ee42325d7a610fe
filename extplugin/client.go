package extplugin

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	a6err "github.com/api7/ext-plugin-proto/go/A6/Err"
	ei "github.com/api7/ext-plugin-proto/go/A6/ExtraInfo"
	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/portico-gw/portico/internal/metrics"
)

// Options configures a Client. Zero values take APISIX's numbers.
type Options struct {
	// Socket is the runner's unix socket path (without "unix:").
	Socket string
	// ConfExpire is what the runner was told in APISIX_CONF_EXPIRE_TIME (default
	// 3600 s). A token is used for 90% of it, then prepared again, as APISIX does.
	ConfExpire time.Duration
	// ConnectTimeout (1 s), WriteTimeout and ReadTimeout (60 s) bound each operation on
	// the socket; the request's context bounds the whole call.
	ConnectTimeout, WriteTimeout, ReadTimeout time.Duration
	// MaxIdle connections are kept (32); an idle one older than IdleTimeout (50 s,
	// under the Python runner's 60 s) is closed instead of reused.
	MaxIdle     int
	IdleTimeout time.Duration
	// Log receives the client's warnings (default slog.Default()).
	Log *slog.Logger
}

// DefaultConfExpire is APISIX's hard-coded conf token lifetime.
const DefaultConfExpire = 3600 * time.Second

// maxTries bounds the calls made for one request when the runner answers
// CONF_TOKEN_NOT_FOUND (APISIX: 3).
const maxTries = 3

// Errors a call may wrap.
var (
	// ErrConfTokenNotFound: the runner did not know the token, three times in a row.
	ErrConfTokenNotFound = errors.New("conf token not found")
	// ErrClosed: the client was closed.
	ErrClosed = errors.New("ext-plugin client closed")
)

// RPCError is an RPC_ERROR frame from the runner.
type RPCError struct{ Code a6err.Code }

func (e *RPCError) Error() string {
	switch e.Code {
	case a6err.CodeBAD_REQUEST:
		return "bad request"
	case a6err.CodeSERVICE_UNAVAILABLE:
		return "service unavailable"
	case a6err.CodeCONF_TOKEN_NOT_FOUND:
		return "conf token not found"
	}
	return fmt.Sprintf("unknown err %d", e.Code)
}

// Is makes errors.Is(err, ErrConfTokenNotFound) hold for that code.
func (e *RPCError) Is(target error) bool {
	return target == ErrConfTokenNotFound && e.Code == a6err.CodeCONF_TOKEN_NOT_FOUND
}

// Info answers the runner's ExtraInfo questions during a call.
type Info interface {
	// Var returns a variable; ok false sends an answer without result.
	Var(name string) (value string, ok bool)
	// ReqBody returns the whole request body.
	ReqBody() ([]byte, error)
	// RespBody returns the whole upstream response body (post-resp only).
	RespBody() ([]byte, error)
}

// Client speaks the ext-plugin RPC to one runner socket. It is safe for concurrent use:
// each call takes its own connection from a pool, and one connection carries one call
// at a time.
type Client struct {
	o    Options
	log  *slog.Logger
	idle chan *conn
	gen  atomic.Uint64 // bumped by Flush: older tokens and connections are dropped
	ids  atomic.Uint32
	dial net.Dialer

	confs     sync.Map // key → *slot
	lastSweep atomic.Int64
	closed    atomic.Bool
}

// NewClient returns a client for the runner at o.Socket. It connects lazily.
func NewClient(o Options) *Client {
	if o.ConfExpire <= 0 {
		o.ConfExpire = DefaultConfExpire
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 60 * time.Second
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 60 * time.Second
	}
	if o.MaxIdle <= 0 {
		o.MaxIdle = 32
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 50 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	cl := &Client{o: o, log: o.Log.With("component", "ext-plugin"), idle: make(chan *conn, o.MaxIdle)}
	cl.dial.Timeout = o.ConnectTimeout
	cl.lastSweep.Store(time.Now().UnixNano())
	return cl
}

// Socket is the runner socket the client calls.
func (cl *Client) Socket() string { return cl.o.Socket }

// Flush drops every cached conf token and idle connection: the runner restarted.
func (cl *Client) Flush() {
	cl.gen.Add(1)
	cl.drain()
}

// Close closes the idle connections; later calls fail with ErrClosed.
func (cl *Client) Close() error {
	cl.closed.Store(true)
	cl.Flush()
	return nil
}

func (cl *Client) drain() {
	for {
		select {
		case c := <-cl.idle:
			c.nc.Close()
		default:
			return
		}
	}
}

// conn is one runner connection with its buffers. It carries one call at a time.
type conn struct {
	nc     *net.UnixConn
	br     *bufio.Reader
	rbuf   []byte
	wbuf   []byte
	lower  []byte
	b      *flatbuffers.Builder
	gen    uint64
	used   time.Time
	reused bool
	sent   bool // the current call's request frame went out
}

func (cl *Client) get(ctx context.Context) (*conn, error) {
	gen := cl.gen.Load()
	for {
		select {
		case c := <-cl.idle:
			if c.gen != gen || time.Since(c.used) > cl.o.IdleTimeout {
				c.nc.Close()
				continue
			}
			c.reused, c.sent = true, false
			return c, nil
		default:
		}
		break
	}
	if cl.closed.Load() {
		return nil, ErrClosed
	}
	nc, err := cl.dial.DialContext(ctx, "unix", cl.o.Socket)
	if err != nil {
		return nil, fmt.Errorf("failed to connect to the unix socket %s: %w", cl.o.Socket, err)
	}
	return &conn{nc: nc.(*net.UnixConn), br: bufio.NewReaderSize(nc, 4096), b: newBuilder(), gen: gen}, nil
}

// put returns a connection after a clean call; anything doubtful closes it.
func (cl *Client) put(c *conn) {
	if c.br.Buffered() > 0 || c.gen != cl.gen.Load() || cl.closed.Load() {
		c.nc.Close()
		return
	}
	if cap(c.rbuf) > keepReadBuf {
		c.rbuf = nil
	}
	if cap(c.wbuf) > keepReadBuf {
		c.wbuf = nil
	}
	if len(c.b.Bytes) > keepReadBuf {
		c.b = newBuilder()
	}
	c.used = time.Now()
	select {
	case cl.idle <- c:
	default:
		c.nc.Close()
	}
}

// deadline is now+d, or ctx's deadline when that is earlier.
func deadline(ctx context.Context, d time.Duration) time.Time {
	t := time.Now().Add(d)
	if cd, ok := ctx.Deadline(); ok && cd.Before(t) {
		return cd
	}
	return t
}

// expireIfDone puts the connection's deadline in the past when ctx is already done: a
// cancellation that came while a deadline was being set would otherwise be overwritten.
func expireIfDone(ctx context.Context, c *conn) {
	if ctx.Err() != nil {
		c.nc.SetDeadline(time.Unix(1, 0))
	}
}

// roundTrip sends one request frame and returns the final reply, answering ExtraInfo
// questions in between (when info is not nil).
func (cl *Client) roundTrip(ctx context.Context, c *conn, typ byte, payload []byte, info Info) (byte, []byte, error) {
	c.nc.SetWriteDeadline(deadline(ctx, cl.o.WriteTimeout))
	expireIfDone(ctx, c)
	if err := writeFrame(c.nc, &c.wbuf, typ, payload); err != nil {
		return 0, nil, cl.ioErr(ctx, "send", typ, err)
	}
	c.sent = true
	for {
		c.nc.SetReadDeadline(deadline(ctx, cl.o.ReadTimeout))
		expireIfDone(ctx, c)
		t, p, err := readFrame(c.br, &c.rbuf)
		if err != nil {
			return 0, nil, cl.ioErr(ctx, "receive", typ, err)
		}
		switch {
		case t == typ || t == typeError:
			return t, p, nil
		case t == typeExtraInfo && info != nil:
			out, err := cl.answer(c, p, info)
			if err != nil {
				return 0, nil, fmt.Errorf("failed to receive %s: %w", typeName(typ), err)
			}
			c.nc.SetWriteDeadline(deadline(ctx, cl.o.WriteTimeout))
			expireIfDone(ctx, c)
			if err := writeFrame(c.nc, &c.wbuf, typeExtraInfo, out); err != nil {
				return 0, nil, cl.ioErr(ctx, "send", typeExtraInfo, err)
			}
		default:
			return 0, nil, fmt.Errorf("failed to receive %s: unexpected type %d", typeName(typ), t)
		}
	}
}

func (cl *Client) ioErr(ctx context.Context, verb string, typ byte, err error) error {
	if cerr := context.Cause(ctx); cerr != nil {
		err = fmt.Errorf("%w (%w)", cerr, err)
	}
	return fmt.Errorf("failed to %s %s: %w", verb, typeName(typ), err)
}

// answer builds the reply to one ExtraInfo question.
func (cl *Client) answer(c *conn, p []byte, info Info) ([]byte, error) {
	x, err := decodeExtraInfo(p)
	if err != nil {
		return nil, err
	}
	switch x.typ {
	case ei.InfoVar:
		v, ok := info.Var(string(x.name))
		// the scratch buffer is free: the request frame went out already
		c.lower = append(c.lower[:0], v...)
		return encodeExtraInfoResp(c.b, c.lower, ok), nil
	case ei.InfoReqBody:
		b, err := info.ReqBody()
		if err != nil {
			return nil, fmt.Errorf("read request body: %w", err)
		}
		return encodeExtraInfoResp(c.b, b, len(b) > 0), nil
	case ei.InfoRespBody:
		b, err := info.RespBody()
		if err != nil {
			cl.log.Debug("failed to read response body", "err", err)
			b = nil
		}
		return encodeExtraInfoResp(c.b, b, len(b) > 0), nil
	}
	return nil, fmt.Errorf("unsupported info type %d", x.typ)
}

// do runs one call on a pooled connection. encode builds the request with the
// connection's builder; decode reads the reply (type and payload) before the connection
// goes back to the pool. A reused connection the runner closed while it was idle fails
// the request's write (EPIPE): it is replaced once by a new one. Once the request is
// out, nothing is retried: the runner may have acted on it.
func (cl *Client) do(ctx context.Context, typ byte, encode func(*conn) ([]byte, error), info Info, decode func(byte, []byte) error) error {
	for attempt := 0; ; attempt++ {
		c, err := cl.get(ctx)
		if err != nil {
			return err
		}
		payload, err := encode(c)
		if err != nil {
			cl.put(c)
			return err
		}
		// a cancelled request (the client went away) interrupts the call at once
		var stop func() bool
		if ctx.Done() != nil {
			stop = context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Unix(1, 0)) })
		}
		t, p, err := cl.roundTrip(ctx, c, typ, payload, info)
		// the deadline may have been moved: such a connection is not reused
		interrupted := stop != nil && !stop()
		if err == nil {
			err = decode(t, p)
			if err == nil || errors.Is(err, ErrConfTokenNotFound) {
				if interrupted {
					c.nc.Close()
				} else {
					cl.put(c)
				}
				return err
			}
		}
		c.nc.Close()
		if attempt == 0 && c.reused && !c.sent && ctx.Err() == nil && stale(err) {
			continue
		}
		return err
	}
}

// stale reports an error a connection the runner closed while idle gives.
func stale(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}

// slot is the token state of one Conf.
type slot struct {
	conf  *Conf
	state atomic.Pointer[token]
	mu    sync.Mutex
	fl    *flight // the PrepareConf under way, shared by concurrent callers
}

type token struct {
	id      uint32
	expires time.Time
	gen     uint64
}

type flight struct {
	done chan struct{}
	tok  *token
	err  error
}

func (cl *Client) slot(conf *Conf) *slot {
	if s, ok := cl.confs.Load(conf.key); ok {
		return s.(*slot)
	}
	s, _ := cl.confs.LoadOrStore(conf.key, &slot{conf: conf})
	return s.(*slot)
}

// token returns a valid token for conf, preparing it once for all concurrent callers.
func (cl *Client) token(ctx context.Context, s *slot) (*token, error) {
	if t := s.state.Load(); t != nil && t.gen == cl.gen.Load() && time.Now().Before(t.expires) {
		return t, nil
	}
	s.mu.Lock()
	if t := s.state.Load(); t != nil && t.gen == cl.gen.Load() && time.Now().Before(t.expires) {
		s.mu.Unlock()
		return t, nil
	}
	f := s.fl
	if f == nil {
		f = &flight{done: make(chan struct{})}
		s.fl = f
		s.mu.Unlock()
		// not the caller's context: the callers that wait on this flight would share its fate
		f.tok, f.err = cl.prepare(context.WithoutCancel(ctx), s.conf)
		s.mu.Lock()
		if f.err == nil {
			s.state.Store(f.tok)
		}
		s.fl = nil
		s.mu.Unlock()
		close(f.done)
		cl.sweep()
	} else {
		s.mu.Unlock()
	}
	select {
	case <-f.done:
		return f.tok, f.err
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// Prepare sends PrepareConf for conf and returns the runner's token; it does not cache.
func (cl *Client) Prepare(ctx context.Context, conf *Conf) (uint32, error) {
	t, err := cl.prepare(ctx, conf)
	if err != nil {
		return 0, err
	}
	return t.id, nil
}

func (cl *Client) prepare(ctx context.Context, conf *Conf) (*token, error) {
	gen := cl.gen.Load()
	start := time.Now()
	var id uint32
	err := cl.do(ctx, typePrepareConf, func(*conn) ([]byte, error) { return conf.payload, nil }, nil,
		func(t byte, p []byte) error {
			if t == typeError {
				code, err := decodeErr(p)
				if err != nil {
					return err
				}
				return fmt.Errorf("failed to receive RPC_PREPARE_CONF: %w", &RPCError{Code: code})
			}
			var err error
			id, err = decodePrepareResp(p)
			return err
		})
	if err != nil {
		return nil, err
	}
	// 90% of the runner's expiry, counted from before the request was sent
	return &token{id: id, gen: gen, expires: start.Add(cl.o.ConfExpire * 9 / 10)}, nil
}

// invalidate drops t from s if it is still the cached token.
func (s *slot) invalidate(t *token) { s.state.CompareAndSwap(t, nil) }

// sweep forgets confs whose token expired, at most once per half expiry.
func (cl *Client) sweep() {
	now := time.Now()
	last := cl.lastSweep.Load()
	if now.Sub(time.Unix(0, last)) < cl.o.ConfExpire/2 || !cl.lastSweep.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	cl.confs.Range(func(k, v any) bool {
		s := v.(*slot)
		s.mu.Lock()
		if t := s.state.Load(); s.fl == nil && (t == nil || now.After(t.expires)) {
			cl.confs.Delete(k)
		}
		s.mu.Unlock()
		return true
	})
}

// HTTPReqCall runs the runner's request filters for conf on req, answering ExtraInfo
// from info. A CONF_TOKEN_NOT_FOUND answer prepares the conf again and retries, up to
// three calls in all. Each call's duration, failed or not, is recorded in
// portico_ext_plugin_rpc_seconds.
func (cl *Client) HTTPReqCall(ctx context.Context, conf *Conf, req *Request, info Info) (Action, error) {
	var a Action
	err := cl.call(ctx, conf, typeHTTPReqCall, info,
		func(c *conn, id, tok uint32) ([]byte, error) { return encodeReqCall(c.b, &c.lower, id, tok, req) },
		func(p []byte) (err error) { a, err = decodeReqCallResp(p); return err })
	return a, err
}

// HTTPRespCall runs the runner's response filters for conf on the upstream's status and
// headers, answering ExtraInfo (RespBody included) from info, with HTTPReqCall's
// token handling and retries.
func (cl *Client) HTTPRespCall(ctx context.Context, conf *Conf, status int, header http.Header, info Info) (RespAction, error) {
	var a RespAction
	err := cl.call(ctx, conf, typeHTTPRespCall, info,
		func(c *conn, id, tok uint32) ([]byte, error) {
			return encodeRespCall(c.b, &c.lower, id, tok, status, header), nil
		},
		func(p []byte) (err error) { a, err = decodeRespCallResp(p); return err })
	return a, err
}

// call runs one call of type typ for conf: encode builds the request with the call's id
// and the conf's token, decode reads a reply of type typ (an RPC_ERROR is decoded here).
// CONF_TOKEN_NOT_FOUND prepares the conf again and retries, maxTries calls in all.
func (cl *Client) call(ctx context.Context, conf *Conf, typ byte, info Info, encode func(c *conn, id, tok uint32) ([]byte, error), decode func(p []byte) error) error {
	s := cl.slot(conf)
	for try := 0; try < maxTries; try++ {
		t, err := cl.token(ctx, s)
		if err != nil {
			return err
		}
		id := cl.ids.Add(1) - 1
		start := time.Now()
		err = cl.do(ctx, typ,
			func(c *conn) ([]byte, error) { return encode(c, id, t.id) },
			info,
			func(rt byte, p []byte) error {
				if rt == typeError {
					code, err := decodeErr(p)
					if err != nil {
						return err
					}
					return fmt.Errorf("failed to receive %s: %w", typeName(typ), &RPCError{Code: code})
				}
				return decode(p)
			})
		metrics.ExtPluginRPC(time.Since(start))
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrConfTokenNotFound) {
			return err
		}
		cl.log.Warn("refresh cache and try again", "conf", conf.key, "err", err)
		s.invalidate(t)
	}
	return fmt.Errorf("failed to call the runner %d times: %w", maxTries, ErrConfTokenNotFound)
}

func newBuilder() *flatbuffers.Builder { return flatbuffers.NewBuilder(1024) }
