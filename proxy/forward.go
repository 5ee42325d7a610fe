package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portico-gw/portico/plugins"
)

// hopHeaders are removed in both directions (RFC 9110 §7.6.1).
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// keptBody passes the client's body through. Close does nothing: the transport closes
// a body after each attempt, and a retry (only after a failed dial, so nothing of it was
// read) still needs it. net/http closes the client's body when the handler returns.
type keptBody struct{ io.Reader }

func (keptBody) Close() error { return nil }

func idempotent(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// forward sends the request to the route's upstream (or the one a plugin picked),
// retrying on another node while the upstream's retries allow, then streams the
// response back.
func (s *Server) forward(q *request, rt *route) {
	c := &q.ctx
	r, w := c.R, c.W
	up := rt.up
	if ch := c.Upstream; ch != nil {
		if up = rt.split.lookup(ch); up == nil {
			// as APISIX's traffic-split answers an upstream_id it cannot find
			msg := "failed to fetch upstream info by upstream id: " + ch.ID
			if ch.ID == "" {
				msg = "failed to build the upstream traffic-split picked"
			}
			s.fail(q, http.StatusInternalServerError, msg)
			return
		}
	}
	q.up = up
	if up.empty {
		s.fail(q, http.StatusServiceUnavailable, "no valid upstream node")
		return
	}
	if res, stop := plugins.Run(q.global, c, plugins.BeforeProxy); stop {
		s.respond(q, res.Status, res.Body)
		return
	} else if res, stop := plugins.Run(q.chain, c, plugins.BeforeProxy); stop {
		s.respond(q, res.Status, res.Body)
		return
	}
	if up.checker != nil {
		q.allUnhealthy = up.checker.AllUnhealthy()
	}
	upgrade := rt.websocket && q.upgrade != ""
	out := s.outRequest(q, rt, upgrade)
	hasBody := r.Body != nil && r.Body != http.NoBody
	if hasBody {
		out.Body = keptBody{r.Body}
	}
	readTO, connectTO := secs(up.timeout.Read), secs(up.timeout.Connect)
	if rt.timeout != nil {
		readTO, connectTO = secs(rt.timeout.Read), secs(rt.timeout.Connect)
	}
	var deadline time.Time
	if up.retryTO > 0 {
		deadline = time.Now().Add(up.retryTO)
	}
	key := ""
	if up.chash {
		key = hashKey(c, up)
	}
	var (
		resp   *http.Response
		err    error
		idx    int
		start  time.Time
		cancel context.CancelCauseFunc
		timer  *time.Timer
	)
	for attempt := 0; ; attempt++ {
		var ok bool
		idx, ok = up.bal.Pick(key, q.skipFn)
		if !ok && attempt == 0 && q.up.checker != nil && !q.allUnhealthy {
			q.allUnhealthy = true // every node unhealthy: use them all, as APISIX does
			idx, ok = up.bal.Pick(key, q.skipFn)
		}
		if !ok {
			if err == nil {
				err = errUnhealth
			}
			break
		}
		q.tried[min(q.ntried, len(q.tried)-1)] = idx
		q.ntried++
		n := up.nodes[idx]
		c.UpstreamAddr = n.addr
		out.URL.Host = n.addr
		if up.passHost == "node" && c.UpstreamHost == "" {
			out.Host = n.hostPort
		}
		start = time.Now()
		send := out
		h1c, _ := up.tr.(*h1Client)
		if rt.timeout != nil && (h1c == nil || upgrade) {
			// http.Transport's timeouts are the upstream's; a route's override
			// bounds the wait for the response header (connect + read), not the body
			var ctx context.Context
			ctx, cancel = context.WithCancelCause(r.Context())
			stop := cancel // a copy, so cancel itself stays on the stack
			timer = time.AfterFunc(connectTO+readTO, func() { stop(context.DeadlineExceeded) })
			send = out.WithContext(ctx)
		}
		if upgrade {
			resp, err = up.ws.RoundTrip(send) // the tunnel needs net/http's 101 handling
		} else if rt.timeout != nil && h1c != nil {
			// h1Client applies a route's connect, send and read timeouts as the
			// upstream's own, each where nginx applies it
			resp, err = h1c.roundTrip(send, timeouts{connect: connectTO, send: secs(rt.timeout.Send), read: readTO})
		} else {
			resp, err = up.tr.RoundTrip(send)
		}
		c.UpstreamTime = time.Since(start)
		if err != nil && clientBodyError(q.inBody) != nil {
			// the client's body failed, not the upstream: no health report, no retry
			if timer != nil {
				timer.Stop()
			}
			if cancel != nil {
				cancel(nil)
				cancel = nil
			}
			up.bal.Done(idx, time.Since(start), false)
			break
		}
		if timer != nil && !timer.Stop() && err == nil {
			// the header came just as the route's timeout fired: the body is cut
			resp.Body.Close()
			resp, err = nil, context.DeadlineExceeded
		}
		if up.checker != nil {
			status := 0
			if resp != nil {
				status = resp.StatusCode
			}
			up.checker.Report(idx, status, err, isTimeout(err))
		}
		if err == nil {
			break
		}
		up.bal.Done(idx, time.Since(start), true)
		if cancel != nil {
			cancel(nil)
			cancel = nil
		}
		if r.Context().Err() != nil {
			return // the client went away
		}
		// a request with a body, or one that is not idempotent, is retried only when it
		// never reached a connection: the failed attempt's transport goroutine may
		// otherwise still be reading the body the retry would send
		if attempt >= up.retries || ((hasBody || !idempotent(r.Method)) && !isDialError(err)) {
			break
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		if cerr := clientBodyError(q.inBody); cerr != nil {
			// nginx: 408 on client_body_timeout, 400 when the body is cut or malformed
			status, msg := http.StatusBadRequest, "client request body unreadable"
			if isTimeout(cerr) {
				status, msg = http.StatusRequestTimeout, "client request body timed out"
			}
			s.log.Info("client request body failed", "uri", r.URL.Path, "err", cerr)
			s.fail(q, status, msg)
			return
		}
		status, msg := s.upstreamError(r, err)
		if c.UpstreamAddr != "" {
			c.UpstreamStatus = status // as nginx, when the upstream gave no answer
			setUpstreamStatus(w.Header(), status)
		}
		s.fail(q, status, msg)
		return
	}
	// the attempt stays active (least_conn) and its latency (ewma) runs until the
	// response has been copied, as APISIX ends it in the log phase
	defer func() {
		up.bal.Done(idx, time.Since(start), false)
		if cancel != nil {
			cancel(nil)
		}
	}()
	c.Status = resp.StatusCode
	c.UpstreamStatus = resp.StatusCode
	if resp.StatusCode == http.StatusSwitchingProtocols {
		s.tunnel(w, r, resp)
		return
	}
	// ext-plugin-post-resp: a plugin may read the body and replace the answer
	if res, stop := plugins.RunUpstreamResponse(q.global, c, resp); stop {
		resp.Body.Close()
		s.respond(q, res.Status, res.Body)
		return
	} else if res, stop := plugins.RunUpstreamResponse(q.chain, c, resp); stop {
		resp.Body.Close()
		s.respond(q, res.Status, res.Body)
		return
	}
	s.copyResponse(q, resp)
}

// outRequest builds the upstream request: the canonical path, the client's query, the
// Host by pass_host, cleaned headers and the gateway's X-Forwarded-*.
func (s *Server) outRequest(q *request, rt *route, upgrade bool) *http.Request {
	c := &q.ctx
	r := c.R
	up := q.up
	// h1Client is done with the request when RoundTrip returns (it writes it whole
	// before reading the answer), so the request's Request, URL and header map are the
	// pooled request's; http.Transport may still write a body after, so it gets its own
	_, reuse := up.tr.(*h1Client)
	reuse = reuse && !upgrade
	var out *http.Request
	var h http.Header
	if reuse {
		out, h = &q.out, q.outHeader
		*out = *r
		out.URL = &q.outURL
		if h == nil {
			h = make(http.Header, len(r.Header)+5)
			q.outHeader = h
		}
	} else {
		out = new(http.Request)
		*out = *r
		out.URL = new(url.URL)
		h = make(http.Header, len(r.Header)+5)
	}
	out.RequestURI = ""
	out.Close = false
	// RawPath always: net/url would otherwise escape sub-delims ('!', '(', '*', …) that
	// the client sent bare, and the upstream would see a path the router did not
	*out.URL = url.URL{Scheme: up.scheme, Path: c.Path, RawPath: escapePath(c.Path), RawQuery: r.URL.RawQuery}
	if c.UpstreamURI != "" {
		// proxy-rewrite: the path (escaped) and query to send as they are
		p, rq, _ := strings.Cut(c.UpstreamURI, "?")
		if dp, err := url.PathUnescape(p); err == nil {
			out.URL.Path, out.URL.RawPath = dp, p
		} else {
			out.URL.Path, out.URL.RawPath = p, ""
		}
		out.URL.RawQuery = rq
	}
	if out.URL.Scheme == "grpc" || out.URL.Scheme == "grpcs" {
		out.URL.Scheme = strings.TrimPrefix(out.URL.Scheme, "grpc")
		if out.URL.Scheme == "" {
			out.URL.Scheme = "http"
		} else {
			out.URL.Scheme = "https"
		}
	}
	switch {
	case c.UpstreamHost != "":
		out.Host = c.UpstreamHost
	case up.passHost == "rewrite":
		out.Host = up.upHost
	default:
		out.Host = r.Host
	}
	for k, vs := range r.Header {
		h[k] = vs
	}
	// hop-by-hop headers were removed before the plugins ran (cleanHopHeaders)
	if upgrade {
		h["Connection"] = []string{"Upgrade"}
		h["Upgrade"] = []string{q.upgrade}
	}
	// the gateway's own headers, set after the hop-by-hop ones are gone; one backing
	// array for all five values
	ip := c.Remote.Addr().Unmap().String()
	v := make([]string, 5)
	v[0], v[1], v[2], v[3] = ip, ip, c.Scheme, q.rreq.Host // Host: $host, as APISIX
	if prior := r.Header["X-Forwarded-For"]; len(prior) > 0 {
		v[1] = strings.Join(prior, ", ") + ", " + ip
	}
	h["X-Real-Ip"] = v[0:1:1]
	h["X-Forwarded-For"] = v[1:2:2]
	h["X-Forwarded-Proto"] = v[2:3:3]
	h["X-Forwarded-Host"] = v[3:4:4]
	if port, ok := c.Var("server_port"); ok {
		v[4] = port
		h["X-Forwarded-Port"] = v[4:5:5]
	} else {
		delete(h, "X-Forwarded-Port")
	}
	delete(h, "Forwarded")
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = nil // keep Go from adding its own
	}
	out.Header = h
	if reuse && !asciiHost(out.Host) {
		// h1Client hands a non-ASCII Host to http.Transport (IDNA)
		own := new(http.Request)
		*own = *out
		own.URL = new(url.URL)
		*own.URL = *out.URL
		own.Header = out.Header.Clone()
		return own
	}
	return out
}

// removeConnectionHeaders deletes from h the headers its Connection header names.
func removeConnectionHeaders(h http.Header) {
	for _, f := range h["Connection"] {
		for f != "" {
			name, rest, _ := strings.Cut(f, ",")
			f = rest
			if name = textproto.TrimString(name); name != "" {
				delete(h, textproto.CanonicalMIMEHeaderKey(name))
			}
		}
	}
}

// hashKey is the chash key of a request, by hash_on; a missing key falls back to the
// client address, as APISIX does.
func hashKey(c *plugins.Ctx, up *upstream) string {
	var (
		v  string
		ok bool
	)
	if up.hashOn == "vars_combinations" {
		v, ok = interpolate(c, up.hashKey), true
	} else {
		v, ok = c.Var(up.hashVar)
	}
	if !ok || v == "" {
		v, _ = c.Var("remote_addr")
	}
	return v
}

// interpolate resolves $name and ${name} in s; missing variables are empty.
func interpolate(c *plugins.Ctx, s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		j := i + 1
		brace := j < len(s) && s[j] == '{'
		if brace {
			j++
		}
		k := j
		for k < len(s) && (s[k] == '_' || s[k] == '.' || 'a' <= s[k] && s[k] <= 'z' || 'A' <= s[k] && s[k] <= 'Z' || '0' <= s[k] && s[k] <= '9') {
			k++
		}
		v, _ := c.Var(s[j:k])
		b.WriteString(v)
		if brace && k < len(s) && s[k] == '}' {
			k++
		}
		i = k - 1
	}
	return b.String()
}

// setUpstreamStatus adds X-APISIX-Upstream-Status, which APISIX sends when the
// upstream's status ($upstream_status) is a 5xx, so a client tells the upstream's
// failure from the gateway's own (apisix/init.lua set_resp_upstream_status).
func setUpstreamStatus(h http.Header, status int) {
	h["X-Apisix-Upstream-Status"] = []string{strconv.Itoa(status)}
}

// clientBodyError is why reading the client's request body failed, when the server
// tells (proxy/h1 does; net/http's body does not); nil otherwise.
func clientBodyError(body io.ReadCloser) error {
	if b, ok := body.(interface{ ReadError() error }); ok {
		return b.ReadError()
	}
	return nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return err != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()))
}

func isDialError(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// upstreamError maps an upstream failure to the client's answer.
func (s *Server) upstreamError(r *http.Request, err error) (int, string) {
	if isTimeout(err) {
		s.log.Warn("upstream timed out", "uri", r.URL.Path, "err", err)
		return http.StatusGatewayTimeout, "upstream timed out"
	}
	s.log.Warn("upstream failed", "uri", r.URL.Path, "err", err)
	return http.StatusBadGateway, "upstream unavailable"
}

// copyResponse writes the upstream's status, headers and body, flushing as data arrives
// when the length is not known (server-sent events, chunked streams). header_filter
// plugins run before the status is written, body_filter plugins on every chunk.
func (s *Server) copyResponse(q *request, resp *http.Response) {
	defer resp.Body.Close()
	c := &q.ctx
	w := c.W
	h := w.Header()
	for k, vs := range resp.Header {
		h[k] = vs
	}
	removeConnectionHeaders(h)
	for _, k := range hopHeaders {
		delete(h, k)
	}
	if len(resp.Trailer) > 0 {
		names := make([]string, 0, len(resp.Trailer))
		for k := range resp.Trailer {
			names = append(names, k)
		}
		h["Trailer"] = []string{strings.Join(names, ", ")}
	}
	c.Status = resp.StatusCode
	if c.Status >= 500 && c.Status <= 599 {
		setUpstreamStatus(h, c.Status)
	}
	plugins.RunHeaderFilter(q.global, c)
	plugins.RunHeaderFilter(q.chain, c)
	filtered := plugins.HasBodyFilter(q.global) || plugins.HasBodyFilter(q.chain)
	stream := resp.ContentLength < 0
	if filtered {
		// a body filter may change the length; the body goes out chunked
		delete(h, "Content-Length")
		stream = true
	}
	if _, ok := h["Content-Type"]; !ok {
		// nginx passes a response without a type as it is; the server must not sniff one
		h["Content-Type"] = nil
	}
	w.WriteHeader(c.Status)
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	rc := http.NewResponseController(w)
	for {
		n, rerr := resp.Body.Read(buf)
		eof := rerr == io.EOF
		if n > 0 || (filtered && eof) {
			chunk := buf[:n]
			if filtered {
				chunk = plugins.RunBodyFilter(q.global, c, chunk, eof)
				chunk = plugins.RunBodyFilter(q.chain, c, chunk, eof)
			}
			if len(chunk) > 0 {
				if _, werr := w.Write(chunk); werr != nil {
					return
				}
				if stream {
					rc.Flush()
				}
			}
		}
		if eof {
			break
		}
		if rerr != nil {
			s.log.Warn("upstream body cut", "err", rerr)
			panic(http.ErrAbortHandler) // headers are out: cut the client connection
		}
	}
	for k, vs := range resp.Trailer {
		h[http.TrailerPrefix+k] = vs
	}
}

func isWebSocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket") && headerHasToken(r.Header, "Connection", "upgrade")
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h[name] {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// tunnel joins the client and the upstream after a 101 Switching Protocols.
func (s *Server) tunnel(w http.ResponseWriter, r *http.Request, resp *http.Response) {
	up, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		resp.Body.Close()
		writeError(w, http.StatusBadGateway, "upstream switched protocols without a connection")
		return
	}
	defer up.Close()
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "cannot take over the connection")
		return
	}
	defer conn.Close()
	conn.SetDeadline(time.Time{})
	if _, err := brw.WriteString("HTTP/1.1 101 Switching Protocols\r\n"); err != nil {
		return
	}
	if err := resp.Header.Write(brw); err != nil {
		return
	}
	if _, err := brw.WriteString("\r\n"); err != nil {
		return
	}
	if err := brw.Flush(); err != nil {
		return
	}
	// one direction on a goroutine of its own, the other on the handler's
	done := make(chan struct{})
	go func() { io.Copy(up, brw); up.Close(); close(done) }()
	io.Copy(conn, up)
	conn.Close()
	<-done
}
