// Package extplugin owns APISIX's external Plugin Runners: the ext-plugin RPC (a unix
// socket, FlatBuffers frames from github.com/api7/ext-plugin-proto), the conf tokens,
// the runner process, and the request-side logic of ext-plugin-pre-req and
// ext-plugin-post-req (plugins/extpluginprereq and plugins/extpluginpostreq are thin
// wrappers around Plugin).
//
// It must not wait past a deadline, nor run two calls on one connection.
//
// # Wire
//
// A frame is a type byte, a 3-byte big-endian length and a FlatBuffers payload (at most
// 16 MiB − 1). A call is one request frame and one reply of the same type or RPC_ERROR;
// between them the runner may ask any number of ExtraInfo questions (Var, ReqBody,
// RespBody), answered on the same connection. Client pools connections per socket (32
// idle, 50 s idle limit, under the Python runner's 60 s). Each write and each read has
// its own deadline (1 s connect, 60 s send and read, as APISIX); the request's context
// ends the call at once when the client goes away. A connection that saw any error, an
// unexpected type or unread bytes is closed, never pooled. A pooled connection the
// runner closed while idle fails the write (EPIPE) and is replaced once; once a request
// is sent nothing is retried.
//
// # Conf tokens
//
// A Conf is a plugin's conf list, keyed by content: "<plugin>#<sha256 of the entries>"
// is both the cache key and PrepareConf's key, so equal configs on several routes share
// a token and a changed config gets a new one. A token is used for 90% of the expiry the
// runner was told (APISIX_CONF_EXPIRE_TIME, default 3600 s, as APISIX), then prepared
// again. Concurrent requests wait for one PrepareConf per conf. CONF_TOKEN_NOT_FOUND
// drops that conf's token, prepares again and retries, three calls in all, then fails.
// A runner exit (Runner's OnExit → Client.Flush) drops every token and idle connection.
//
// # The runner process
//
// Runner starts ext_plugin.cmd with APISIX_LISTEN_ADDRESS=unix:<absolute socket path>
// and APISIX_CONF_EXPIRE_TIME, in its own process group; its stdout and stderr are
// logged line by line tagged component=ext-plugin-runner. When it exits it is started
// again after a back-off (1 s doubling to 30 s while it keeps dying within a minute;
// APISIX waits a flat 3 s). Stop sends SIGTERM, then SIGKILL after 1 s, and removes the
// socket file. For ext_plugin.path_for_test no Runner is started: the Client alone
// calls the given socket, and a runner restarted by hand is recovered from through
// CONF_TOKEN_NOT_FOUND.
//
// # Global state
//
// SetDefault / Default hold the node's Client: a Spec.Build gets only its config, so
// cmd/portico sets it once at start. It is the package's one piece of global state.
//
// # Applying the runner's reply
//
// Stop: the status (0 means 200; one net/http cannot send as a final status, below 200
// or above 999, makes the reply malformed and the call fails), the headers onto the
// response (the first entry of a name sets, later ones add; no value deletes), the body;
// the request ends there.
// Rewrite, in APISIX's order: path → Ctx.UpstreamURI, escaped as nginx's ngx_escape_uri
// (controls, space, '#', '%', '?', non-ASCII), with the query kept; headers →
// Ctx.R.Header (first sets, later add, no value deletes; "host" sets Ctx.UpstreamHost);
// body (proto v0.6.1) → the request body and its Content-Length; resp_headers → the
// response headers; args → Ctx.R.URL.RawQuery (and Ctx.UpstreamURI's query when that is
// set): no value deletes the key, the first entry of a key replaces it, later ones add.
// A header name that is not an HTTP token or a value with a control character is
// dropped and logged.
//
// # ext-plugin-post-resp
//
// The proxy makes the upstream request (balancer, retries, timeouts, TLS) and hands the
// response to Plugin.RunResponse once its status and headers arrived (the
// plugins.UpstreamResponsePhase step). HTTPRespCall sends the status and the headers
// (lower-case names, one entry per value); ExtraInfo RespBody reads the whole body
// once (at most a frame; a larger one is refused to the runner and still sent whole)
// and puts it back in front of the rest; Var and ReqBody are answered as for
// HTTPReqCall (the plugin keeps the request body in memory before the upstream call).
// The reply: status (0 keeps the upstream's), headers as in (a) below, and a body,
// which replaces the upstream's with its own Content-Length. The response then goes
// through the header and body filters as any upstream response.
//
// # What the runner is sent
//
// The method (one outside the protocol's enum — CONNECT, PURGE, … — fails the call),
// the source IP (4 or 16 bytes), the path and args the upstream would get (Ctx.UpstreamURI
// when an earlier plugin set it, else the canonical path and the client's query; args
// unescaped, in order, "k" without '=' as an entry without value), and the headers with
// lower-case names, one entry per value.
//
// # Compatibility decisions (the reference's TL;DR §10)
//
//   - (a) post-resp header semantics: APISIX takes a non-empty HTTPRespCall.Resp.headers
//     as the complete header set, and with an empty one copies the upstream's headers
//     minus Content-Type, Content-Encoding, Location, … (APISIX #8388: the Go runner
//     sends only what it changed, so Content-Type is lost). Portico keeps every upstream
//     header and applies the runner's entries over them (first sets, later add, no
//     value deletes); framing headers (Content-Length, Transfer-Encoding, Connection and
//     the other hop-by-hop ones) are ignored.
//   - (b) resp_headers silently ignores connection, content-length, transfer-encoding,
//     location, server, www-authenticate, content-encoding, content-type,
//     content-location, content-language — as APISIX. The proxy copies the upstream's
//     headers over the response headers afterwards, so an upstream header of the same
//     name wins (in nginx both would be sent).
//   - (c) a TextEntry without value deletes (headers, args) and is distinct from "" —
//     as APISIX; a query key without '=' is sent without value.
//   - (d) the "host" sent is Ctx.UpstreamHost when a plugin set it, else the client's
//     Host: the node's host (pass_host "node"/"rewrite") is only known after the
//     balancer picked, after these phases. APISIX sends $upstream_host.
//   - (e) a runner that answers an error with no frame at all (Python, JavaScript) is
//     only caught by the read timeout (60 s by default, Options.ReadTimeout).
//
// Other differences: args keep their order and untouched ones their encoding, a
// replaced key stays where it was and new keys go last (APISIX re-encodes a Lua table);
// an empty Rewrite.path becomes "/"; a request body over 16 MiB − 64 bytes cannot be
// sent as ReqBody and fails the call (the body is kept intact for degradation).
package extplugin
