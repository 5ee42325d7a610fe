// Package proxyrewrite is APISIX's proxy-rewrite: it rewrites what is sent upstream —
// the path and query (`uri` template or `regex_uri`), the Host (`host`), the method and
// request headers. Priority 1008, phase rewrite.
//
// The new path is set on Ctx.UpstreamURI, escaped as APISIX's uri_safe_encode does
// (nginx's ngx_escape_uri: controls, space, '#', '%', '?' and non-ASCII bytes), with the
// client's query appended ("?args", or "&args" when the new uri carries a query already).
// `$var` values substituted into `uri` have '?' escaped to %3F (whose '%' the path
// encoding escapes again, as in APISIX), so a variable cannot start a query. The host goes to Ctx.UpstreamHost. Header values interpolate `$var`
// and, after a matching `regex_uri`, its `$1` captures; a value that contains a control
// character (CR, LF, …) after interpolation is dropped and logged, never sent.
//
// Bad input: an empty config, a uri not starting with '/', an odd-length regex_uri, a
// regex RE2 cannot compile or a replacement with a bad `$` reference, a host that is not
// host[:port], an unknown method, header names that are not HTTP tokens, literal header
// values with control characters (or, in the flat form, any byte outside 0x20–0x7e, as
// APISIX) are refused when written. Nothing fails at request time.
package proxyrewrite
