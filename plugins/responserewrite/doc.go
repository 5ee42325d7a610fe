// Package responserewrite is APISIX's response-rewrite: it changes the status, the
// headers and the body of the response the client gets. Priority 899, phases
// header_filter and body_filter.
//
// In header_filter the `vars` condition is evaluated once (it sees `$status`, the
// upstream's status); when it does not hold, the response passes untouched. Otherwise
// `status_code` replaces the status, and when the body will change (`body` or `filters`)
// Content-Length, Content-Encoding, Last-Modified and ETag are removed. Then the headers
// are applied: add, then set, then remove. Values interpolate `$var` when the response
// starts; a value holding a control character (CR, LF, …) after interpolation is dropped
// and logged, never sent; an empty value set removes the header (as nginx does).
//
// In body_filter `body` replaces the whole upstream body, which is discarded. With
// `filters` the body is buffered to its end (at most `max_resp_body_size` bytes; the rest
// is dropped), gunzipped when the upstream sent it gzip-encoded, and each filter's regex
// is replaced once or globally, in order. Intermediate chunks return nil; the new body is
// returned with the last one.
//
// Bad input: everything APISIX's schema refuses is refused when written — a status_code
// outside 200–598, body together with filters, body_base64 with an empty or invalid
// body, a `vars` that does not compile, a filter regex Go's RE2 cannot compile, an
// unknown regex option, headers in neither form. Beyond APISIX, also refused: header
// names that are not HTTP tokens, literal values with control characters, `add` items
// that APISIX would fail to parse at request time, filter replacements with a `$` that is
// not `$N`, `${N}` or `$$`, and the `x` regex option. Nothing fails at request time.
//
// # Where per-request state lives
//
// Buffering a body and remembering the `vars` result across phases needs per-request
// state: it is the Ctx's plugin state (Ctx.SetPluginState), keyed by the instance, so two
// instances on one request never collide. It is made in HeaderFilter, dropped at the
// last chunk and, whatever happened (an aborted response), in Log; HeaderFilter also
// drops a stale entry left on the Ctx. A config that needs no state (headers or status
// only, or `body` without `vars`) never touches it.
package responserewrite
