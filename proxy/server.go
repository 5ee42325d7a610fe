package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-gw/portico/internal/metrics"
	"github.com/portico-gw/portico/plugins"
	"github.com/portico-gw/portico/proxy/router"
	"github.com/portico-gw/portico/store"
	"github.com/portico-gw/portico/wasmhost"
)

// Server is the data plane's http.Handler.
type Server struct {
	snap    atomic.Pointer[Snapshot]
	log     *slog.Logger
	pool    sync.Pool  // *request
	buildMu sync.Mutex // one snapshot build at a time
	// releaseTimer returns memory to the OS once rebuilds settle (see install); under buildMu.
	releaseTimer *time.Timer
	releaseAfter time.Duration // 0: defaultReleaseAfter
	releaseFn    func()        // nil: debug.FreeOSMemory
	// Registry builds the plugin chains; nil means no plugin can run.
	Registry *plugins.Registry
	// AccessLog records every routed request after the plugins' log phase; nil logs none.
	AccessLog interface{ Record(c *plugins.Ctx) }
	// Wasm runs `_meta.pre_function` hooks; nil means hooks are refused.
	Wasm *wasmhost.Host
	// DecryptKey opens an ssls private key as stored (data_encryption); nil means keys
	// are stored in plain text. Set it before Run.
	DecryptKey func(string) (string, error)
	// FallbackSNI is the server name whose certificate a client that sends no SNI gets;
	// empty means such a handshake fails with unrecognized_name.
	FallbackSNI string
	// MaxBodySize bounds a request body in bytes (proxy.max_body_size); 0 is no limit.
	// A larger Content-Length is answered 413 before routing; a chunked body is cut at it.
	MaxBodySize int64
	// ReportStore, when set, hears from Run whether the store answers: true after each
	// load and watch response, false when a load fails or a watch ends with an error
	// other than store.ErrCompacted. Set it before Run.
	ReportStore func(ok bool)
}

// NewServer returns a server with an empty snapshot: every request gets 404 until Run
// (or Swap) provides one.
func NewServer(log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	s := &Server{log: log}
	empty, _ := router.New(nil)
	s.snap.Store(&Snapshot{Router: empty, upstreams: map[string]*upstream{}})
	s.pool.New = func() any { r := &request{}; r.skipFn = r.skip; return r }
	return s
}

// Snapshot returns the snapshot new requests use.
func (s *Server) Snapshot() *Snapshot { return s.snap.Load() }

// Swap installs next for new requests and releases what only the old one used.
func (s *Server) Swap(next *Snapshot) {
	old := s.snap.Swap(next)
	old.close(next)
	old.pstate.close()
}

// request is one request's working state, pooled.
type request struct {
	ctx    plugins.Ctx
	params router.Params
	rreq   router.Request
	tried  [8]int // nodes tried, for skip; more tries than this reuse the last slot
	ntried int
	up     *upstream
	// upgrade is the Upgrade header of a WebSocket upgrade request (read before the
	// hop-by-hop headers are removed); empty otherwise.
	upgrade string
	// global and chain are the entries that run for this request.
	global []*plugins.Entry
	chain  []*plugins.Entry
	// allUnhealthy: every node is unhealthy, so health is ignored (as APISIX does).
	allUnhealthy bool
	skipFn       func(int) bool
	// watch is the forwarded body when its length is unknown; nil otherwise.
	watch *bodyWatch
	// inBody is the request body as the server gave it, before any wrapping: h1's
	// tells why reading it failed (clientBodyError).
	inBody io.ReadCloser
	// out, outURL and outHeader are the upstream request's when h1Client sends it
	// (outRequest); the header map is cleared, not freed, between requests.
	out       http.Request
	outURL    url.URL
	outHeader http.Header
}

// skip reports whether node i must not be picked: tried already, or unhealthy.
func (q *request) skip(i int) bool {
	for _, t := range q.tried[:min(q.ntried, len(q.tried))] {
		if t == i {
			return true
		}
	}
	if c := q.up.checker; c != nil && !q.allUnhealthy && !c.Healthy(i) {
		return true
	}
	return false
}

var (
	errNoRoute  = errors.New("404 Route Not Found")
	errBadPath  = errors.New("bad request path")
	errUnhealth = errors.New("no healthy upstream node")
	errTooLarge = errors.New("413 Request Entity Too Large")
)

// ServeHTTP runs one request through the snapshot it starts with.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	snap := s.snap.Load()
	inBody := r.Body
	path, err := canonicalPath(r.URL.EscapedPath())
	if err != nil {
		writeError(w, http.StatusBadRequest, errBadPath.Error()+": "+err.Error())
		return
	}
	if s.MaxBodySize > 0 {
		if r.ContentLength > s.MaxBodySize {
			writeError(w, http.StatusRequestEntityTooLarge, errTooLarge.Error())
			return
		}
		if r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, s.MaxBodySize)
		}
	}
	metrics.CountRequest()
	q := s.pool.Get().(*request)
	defer s.release(q) // runs last: also contains a panic from here on
	q.inBody = inBody
	q.rreq = router.Request{Method: r.Method, Host: hostOnlyLower(r.Host), RawHost: r.Host, Path: path}
	remote, _ := netip.ParseAddrPort(r.RemoteAddr)
	q.rreq.RemoteAddr = remote.Addr().Unmap()
	c := &q.ctx
	c.W, c.R, c.Path, c.Remote, c.Params, c.Scheme = w, r, path, remote, &q.params, schemeOf(r)
	c.Start = time.Now()
	c.Consumers, c.Log = snap.consumers, s.log
	// hop-by-hop headers go before any plugin runs, so a client's Connection header can
	// never strip a header a plugin sets
	if isWebSocket(r) {
		q.upgrade = r.Header.Get("Upgrade")
	}
	cleanHopHeaders(r.Header)
	m, ok := snap.Router.Match(&q.rreq, &q.params, c)
	if !ok {
		// APISIX runs the global rules' rewrite and access even when no route matched
		if g := snap.global; g != nil && len(g.Entries) > 0 {
			q.global = g.Entries
			defer plugins.RunLog(q.global, c)
			if s.runPhase(q, plugins.Rewrite) || s.runPhase(q, plugins.Access) {
				return
			}
		}
		s.fail(q, http.StatusNotFound, errNoRoute.Error())
		return
	}
	rt := m.Value.(*route)
	c.RouteID, c.RouteName, c.ServiceID, c.ServiceName = rt.id, rt.name, rt.serviceID, rt.serviceName
	q.global = rt.global
	if rt.chain != nil {
		q.chain = rt.chain.Entries
	}
	if len(q.global) > 0 || len(q.chain) > 0 {
		defer func() {
			plugins.RunLog(q.global, c)
			plugins.RunLog(q.chain, c)
		}()
		if s.runPhase(q, plugins.Rewrite) {
			return
		}
		if c.Consumer != nil && rt.chain != nil {
			merged, extra := rt.chain.WithConsumer(c.Consumer)
			q.chain = merged.Entries
			if res, stop := plugins.Run(extra, c, plugins.Rewrite); stop {
				s.respond(q, res.Status, res.Body)
				return
			}
		}
		if s.runPhase(q, plugins.Access) {
			return
		}
	}
	if rt.status != 0 && !(rt.upMissing && c.Upstream != nil) { // traffic-split may stand in
		s.fail(q, rt.status, rt.msg)
		return
	}
	if br := c.R; br.ContentLength < 0 && br.Body != nil && br.Body != http.NoBody {
		// a body of unknown length may pass a size limit (proxy.max_body_size or
		// client-control) while it is forwarded: the failed forward is then a 413
		q.watch = &bodyWatch{ReadCloser: br.Body}
		br.Body = q.watch
	}
	s.forward(q, rt)
}

// bodyWatch notes a read of the forwarded body that passed a size limit. It is not
// pooled: the transport may still read it after the handler returned.
type bodyWatch struct {
	io.ReadCloser
	tooLarge atomic.Bool
}

func (b *bodyWatch) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			b.tooLarge.Store(true)
		}
	}
	return n, err
}

// runPhase runs a request-side phase, global rules first; it reports whether a plugin
// answered the request (the answer is written).
func (s *Server) runPhase(q *request, p plugins.Phase) bool {
	c := &q.ctx
	res, stop := plugins.Run(q.global, c, p)
	if !stop {
		res, stop = plugins.Run(q.chain, c, p)
	}
	if stop {
		s.respond(q, res.Status, res.Body)
	}
	return stop
}

// respond writes an answer a plugin (or the gateway after plugins ran) made: header
// filters, then the body through the body filters.
func (s *Server) respond(q *request, status int, body []byte) {
	c := &q.ctx
	c.Status = status
	h := c.W.Header()
	if _, ok := h["Content-Type"]; !ok && len(body) > 0 {
		if body[0] == '{' || body[0] == '[' {
			h["Content-Type"] = []string{"application/json"}
		} else {
			h["Content-Type"] = []string{"text/plain; charset=utf-8"}
		}
	}
	plugins.RunHeaderFilter(q.global, c)
	plugins.RunHeaderFilter(q.chain, c)
	filtered := plugins.HasBodyFilter(q.global) || plugins.HasBodyFilter(q.chain)
	if filtered {
		body = plugins.RunBodyFilter(q.global, c, body, true)
		body = plugins.RunBodyFilter(q.chain, c, body, true)
		h.Del("Content-Length")
	}
	c.W.WriteHeader(c.Status)
	c.W.Write(body)
}

// fail answers with the gateway's JSON error once plugins may have run (no route, no
// upstream, upstream failed): it goes through header_filter and body_filter as a plugin's
// or the upstream's answer does, so cors, request-id or response-rewrite see it too.
func (s *Server) fail(q *request, status int, msg string) {
	if q.watch != nil && q.watch.tooLarge.Load() {
		status, msg = http.StatusRequestEntityTooLarge, errTooLarge.Error()
	}
	q.ctx.W.Header().Set("Content-Type", "application/json")
	s.respond(q, status, errorBody(msg))
}

// schemeOf is $scheme and X-Forwarded-Proto: how the client reached the gateway.
func schemeOf(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// cleanHopHeaders removes the hop-by-hop headers and those Connection names.
func cleanHopHeaders(h http.Header) {
	removeConnectionHeaders(h)
	te := h["Te"]
	for _, k := range hopHeaders {
		delete(h, k)
	}
	for _, v := range te {
		if strings.Contains(strings.ToLower(v), "trailers") {
			h["Te"] = []string{"trailers"}
			break
		}
	}
}

// release ends a request, deferred right after q is taken from the pool so it runs
// after every other deferred call of ServeHTTP (the log phase included). It first
// contains a panic of a plugin or of the gateway (see contain), then records the access
// log and returns q to the pool. recover costs nothing when nothing panics, and no
// deferred call is added to the hot path.
func (s *Server) release(q *request) {
	abort := false
	if p := recover(); p != nil {
		abort = s.contain(q, p)
	}
	if s.AccessLog != nil {
		s.AccessLog.Record(&q.ctx)
	}
	q.ctx.Reset()
	q.params.Reset()
	q.rreq = router.Request{}
	q.ntried, q.up, q.allUnhealthy, q.upgrade = 0, nil, false, ""
	q.global, q.chain, q.watch, q.inBody = nil, nil, nil, nil
	q.out, q.outURL = http.Request{}, url.URL{}
	if len(q.outHeader) > 64 {
		q.outHeader = nil // an outsized request's map is not kept
	} else {
		clear(q.outHeader)
	}
	s.pool.Put(q)
	if abort {
		panic(http.ErrAbortHandler) // net/http closes the connection and logs nothing
	}
}

// contain handles a panic recovered in release and reports whether the client's
// connection must be cut (release then panics with http.ErrAbortHandler).
// http.ErrAbortHandler itself (a response cut on purpose) goes on as it is. Any other
// panic is logged with the route and stack, counted in portico_panics_total{where="proxy"},
// and answered 500 when no status was decided yet: Status is set before header_filter
// runs and headers are written after it, so none can be out. Otherwise part of an answer
// may be out and the connection is cut. Either way the process lives on.
func (s *Server) contain(q *request, p any) bool {
	if p == http.ErrAbortHandler {
		return true
	}
	c := &q.ctx
	metrics.CountPanic(metrics.PanicProxy)
	s.log.Error("request handler panicked", "route_id", c.RouteID, "uri", c.Path, "panic", p, "stack", string(debug.Stack()))
	if c.Status != 0 {
		return true
	}
	c.Status = http.StatusInternalServerError // for the access log
	h := c.W.Header()
	delete(h, "Content-Length")
	delete(h, "Content-Encoding")
	writeError(c.W, http.StatusInternalServerError, "500 Internal Server Error")
	return false
}

// hostOnlyLower is $host: the Host header without port, lower-cased.
func hostOnlyLower(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	for i := 0; i < len(h); i++ {
		if 'A' <= h[i] && h[i] <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}

// writeError answers with a JSON error body, bypassing the plugins: for answers no
// plugin is part of (a bad path, a tunnel that failed). After plugins ran, use fail.
func writeError(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(errorBody(msg))
}

// errorBody is the gateway's error body, {"error_msg": msg} and a newline: the one place
// error bodies are made.
func errorBody(msg string) []byte {
	b := make([]byte, 0, len(msg)+20)
	b = append(b, `{"error_msg":`...)
	b = appendJSONString(b, msg)
	return append(b, "}\n"...)
}

func appendJSONString(b []byte, s string) []byte {
	const hexd = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&15])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// install builds a snapshot of items and swaps it in, unless a newer one is serving.
// Builds are serialised so an older build can never replace a newer one.
func (s *Server) install(rev int64, items map[store.Kind][]store.Item, start time.Time) {
	s.buildMu.Lock()
	defer s.buildMu.Unlock()
	if cur := s.snap.Load(); cur != nil && cur.Rev > rev {
		return
	}
	next, err := buildSnapshot(rev, items, s.snap.Load(), s.Registry, s.DecryptKey, s.hookBuilder(items), s.log)
	if err != nil {
		s.log.Error("snapshot not built; the previous one keeps serving", "revision", rev, "err", err)
		return
	}
	s.Swap(next)
	s.log.Debug("snapshot installed", "revision", rev, "routes", next.Router.Len(), "took", time.Since(start))
	s.scheduleRelease()
}

// defaultReleaseAfter is how long snapshot rebuilds must pause before the memory of the
// snapshots they replaced goes back to the OS.
const defaultReleaseAfter = 3 * time.Second

// scheduleRelease (under buildMu) arms, or pushes back, one debug.FreeOSMemory for when
// rebuilds have paused for releaseAfter. Every rebuild leaves the replaced snapshot (with
// 10 000 routes, tens of MiB) as garbage; with no traffic no GC cycle comes to collect it
// (the runtime forces one only every two minutes, and returns freed pages slowly), so
// after loading a large configuration the process would sit near twice its live heap.
// One full collection per burst of admin writes, off the request path, is cheap (a few
// ms with 10 000 routes) next to the rebuilds themselves.
func (s *Server) scheduleRelease() {
	d := s.releaseAfter
	if d == 0 {
		d = defaultReleaseAfter
	}
	if s.releaseTimer != nil {
		s.releaseTimer.Reset(d)
		return
	}
	fn := s.releaseFn
	if fn == nil {
		fn = debug.FreeOSMemory
	}
	s.releaseTimer = time.AfterFunc(d, fn)
}

// Rebuild builds a new snapshot from the whole store now, for changes that are not in
// the store (the enabled plugin list after PUT /apisix/admin/plugins/reload).
func (s *Server) Rebuild(ctx context.Context, st *store.Store) error {
	start := time.Now()
	rev, items, err := st.Snapshot(ctx)
	if err != nil {
		return err
	}
	s.install(rev, items, start)
	return nil
}

// Run loads the store into a snapshot, then follows its watch, rebuilding on every
// change until ctx ends. ready is closed after the first snapshot is installed.
func (s *Server) Run(ctx context.Context, st *store.Store, ready chan<- struct{}) error {
	items := map[store.Kind]map[string]store.Item{}
	report := func(ok bool) {
		if s.ReportStore != nil {
			s.ReportStore(ok)
		}
	}
	load := func() (int64, error) {
		rev, all, err := st.Snapshot(ctx)
		if err != nil {
			report(false)
			return 0, err
		}
		report(true)
		items = map[store.Kind]map[string]store.Item{}
		for k, l := range all {
			m := make(map[string]store.Item, len(l))
			for _, it := range l {
				m[it.ID] = it
			}
			items[k] = m
		}
		return rev, nil
	}
	rebuild := func(rev int64) {
		start := time.Now()
		flat := make(map[store.Kind][]store.Item, len(items))
		for k, m := range items {
			l := make([]store.Item, 0, len(m))
			for _, it := range m {
				l = append(l, it)
			}
			sortItems(l)
			flat[k] = l
		}
		s.install(rev, flat, start)
	}
	rev, err := load()
	if err != nil {
		return err
	}
	rebuild(rev)
	if ready != nil {
		close(ready)
	}
	// failed: the last watch ended with an error. The next one starts with a load, which
	// tells when the store answers again (a new watch says nothing until a change) and
	// catches up on what happened meanwhile.
	failed := false
	backoff := 100 * time.Millisecond
	for {
		if failed {
			r, err := load()
			if err != nil {
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, 2*time.Second)
				continue
			}
			failed, backoff = false, 100*time.Millisecond
			if r != rev {
				rev = r
				rebuild(rev)
			}
		}
		wctx, cancel := context.WithCancel(ctx)
		w := st.Watch(wctx, rev)
		compacted := false
		ended := func(err error) {
			if errors.Is(err, store.ErrCompacted) {
				compacted = true
			} else {
				s.log.Warn("store watch ended", "err", err)
				if ctx.Err() == nil { // not Run's own end
					report(false)
					failed = true
				}
			}
		}
		for resp := range w {
			if resp.Err != nil {
				ended(resp.Err)
				break
			}
			report(true)
			apply(items, resp.Events)
			rev = resp.Rev
			// take whatever else is already queued before building once
			var endErr error
		drain:
			for {
				select {
				case more, ok := <-w:
					if !ok {
						break drain
					}
					if more.Err != nil {
						endErr = more.Err
						break drain
					}
					apply(items, more.Events)
					rev = more.Rev
				default:
					break drain
				}
			}
			rebuild(rev)
			if endErr != nil {
				ended(endErr)
				break
			}
		}
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if compacted {
			if rev, err = load(); err != nil {
				s.log.Error("reload after compaction", "err", err)
			} else {
				rebuild(rev)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func apply(items map[store.Kind]map[string]store.Item, evs []store.Event) {
	for _, e := range evs {
		m := items[e.Item.Kind]
		if m == nil {
			m = map[string]store.Item{}
			items[e.Item.Kind] = m
		}
		if e.Type == store.EventDelete {
			delete(m, e.Item.ID)
		} else {
			m[e.Item.ID] = e.Item
		}
	}
}
