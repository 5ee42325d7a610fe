// Package gzip is APISIX's gzip: it compresses responses with gzip. Priority 995,
// phases header_filter and body_filter.
//
// header_filter decides, as APISIX's plugin and then nginx's gzip filter do: the response
// has a Content-Type listed in `types` (or `types` is "*"), a Content-Length that, when
// known, is at least `min_length`, the request's HTTP version is at least `http_version`
// (then `Vary: Accept-Encoding` is added when `vary` is set), the status is 200, 403 or 404,
// the response is not already encoded, the request is not HEAD, accepts gzip
// (Accept-Encoding, q > 0) and carries no Via header (nginx's gzip_proxied off). A
// compressed response gets Content-Encoding: gzip, loses Content-Length and
// Accept-Ranges, and a strong ETag becomes weak.
//
// body_filter compresses chunk by chunk with a pooled compress/gzip writer of level
// `comp_level`, flushing after each chunk so that streamed responses keep streaming; the
// last chunk closes the stream. `buffers` is accepted and has no effect.
//
// Bad input: types that are neither "*" nor a non-empty list of non-empty strings,
// min_length < 1, comp_level outside 1–9, http_version other than 1.1 or 1.0, buffers
// number or size < 1, and a non-boolean vary are refused when written. Nothing fails at
// request time.
//
// # Where per-request state lives
//
// A gzip stream spans every chunk of a response: it is the Ctx's plugin state
// (Ctx.SetPluginState), keyed by the instance, made in HeaderFilter and returned to the
// pool at the last chunk or, when the response was cut, in Log. The one package-level
// value is a sync.Pool of writers per compression level: a cache that outlives snapshots
// (a writer holds hundreds of KiB), not state.
package gzip
