// Package h1 is the proxy's client-facing HTTP/1.1 server on plain TCP: it serves a
// standard http.Handler (proxy.Server runs on it unchanged) as net/http's server does,
// with one goroutine per connection and nothing started or allocated per request but
// the request head's bytes and its header values. HTTPS and HTTP/2 stay on net/http.
//
// It owns reading requests (request line, headers, Content-Length and chunked bodies,
// 100-continue), writing responses (framing, Date, Content-Type sniffing, trailers,
// informational responses), keep-alive, pipelining, hijacking, timeouts, ConnState and
// graceful shutdown. It must not import other Portico packages, and must not differ
// from net/http in anything a handler can observe except where listed below.
//
// # Per connection, not per request
//
// net/http starts and stops a background-read goroutine per request (to notice a client
// that goes away), cancels a context per request and allocates some fifteen objects.
// Here a connection makes its context (carrying http.LocalAddrContextKey, cancelled
// when the connection closes or Close is called), its Request, Header map, URL,
// ResponseWriter and response header map once, and reuses them: each request's
// Request is a copy of a template that holds the context. A request allocates the
// string of its head (method, target, names and values are substrings of it), one
// array for all header values, and for a body one reader; a non-canonical header name
// that is not a common one allocates its canonical form.
//
// # The reuse contract
//
// A handler must not keep the *http.Request, its Header map, its URL or the
// ResponseWriter (and its Header map) after ServeHTTP returns: the next request on the
// connection overwrites them. Strings and header value slices may be kept: they are
// never reused. The request body is made per request; a goroutine left reading it after
// the handler returned gets http.ErrBodyReadAfterClose (as net/http), never the next
// request's bytes. Portico keeps nothing past ServeHTTP: proxy-mirror clones the header
// before queueing, loggers encode entries before queueing, and the outgoing request
// (forward.go outRequest) has a map and URL of its own.
//
// # Differences from net/http
//
//   - r.Context() is not cancelled when the client goes away mid-request, only when the
//     connection closes (after the response) or on Close: noticing a disconnect needs
//     the per-request background read this package exists to avoid. A handler blocked
//     on an upstream runs to its own timeout. IsConnContext tells such a context, on
//     which a watcher (context.AfterFunc) would never fire mid-request.
//   - A request with both Content-Length and Transfer-Encoding is refused with 400 and
//     the connection closed (net/http drops Content-Length and reads chunked), as is an
//     obs-fold header line (net/http joins it): request smuggling defence.
//   - "PRI * HTTP/2.0" (h2c prior knowledge) is 505; net/http hands it to the handler.
//   - The context has no http.ServerContextKey; r.TLS is always nil.
//   - http.MaxBytesReader cannot tell this ResponseWriter the limit was hit (the hook is
//     unexported): the unread rest of the body is drained up to 256 KiB after the
//     handler, else the connection closes, as for any unread body.
//   - An invalid Content-Length the handler sets is dropped (net/http keeps it for
//     HEAD, 204 and HTTP/1.0 answers). A panicking handler's held-back body (at most
//     2 KiB) is dropped, as net/http does; what was flushed stays sent.
//   - A request read while Shutdown runs is answered with Connection: close (net/http
//     drops it unanswered). The ResponseWriter has no ReadFrom (no sendfile) and no
//     CloseNotify.
//
// # Timeouts
//
// ReadHeaderTimeout runs from the connection's accept (first request) or from the
// first byte of a later request to the end of its headers; IdleTimeout while waiting
// for that first byte. BodyReadTimeout bounds each wait for more of the body (nginx's
// client_body_timeout), the handler's reads and the drain after it alike; a deadline
// the handler sets with http.ResponseController takes its place for that request.
// Without BodyReadTimeout nothing bounds reading the body but the handler's own timeouts.
//
// Moving a deadline is a runtime timer update and a clock read, and a connection
// carrying requests back to back would pay three a request (idle, header, none). So: a
// later request whose head came whole with its first byte (one segment, the common
// case) never arms ReadHeaderTimeout, there being nothing left to wait for; a request
// without a body leaves the deadline as it is while the handler runs, since nothing
// reads the connection then; and the idle deadline is only moved when it falls short
// of IdleTimeout from now by a 64th of it (at most a second), so an idle wait may end
// up to that much early. Net: about one deadline update a second per busy connection.
//
// # Why
//
// The profile of the proxy showed net/http's server side dominating (the per-request
// goroutine, its syscalls and allocations). On the shared 2-core test machine, one
// kept-alive loopback client sending "GET /x" for a 1 KiB body (BenchmarkServe_*,
// -benchtime=2s; wall time is noise there, CPU time per request is steadier):
//
//	              ns/op (wall)   cpu-ns/op (client+server)   B/op   allocs/op
//	h1            37–57 µs       28.7–29.5 µs                 144    3
//	net/http      40–55 µs       36.3–39.9 µs                 2208   19
//
// One of the 3 allocations is the benchmark handler's own Header().Set; the server's
// are the head string and the values array (net/http: 18 of its 19).
//
// With 8 connections (BenchmarkServeParallel_*): h1 24.9–25.3 µs CPU/request, net/http
// 30.5–40.7 µs. What is left per request is the client's and the kernel's work and the
// two reads (one data, one EAGAIN before parking) and one write the netpoller needs.
package h1
