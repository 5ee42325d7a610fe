// Package router owns route selection: given a request's method, host, canonical path
// and client address, it picks the route APISIX's default HTTP router
// (radixtree_host_uri, lua-resty-radixtree with parameters enabled) would pick, and
// records the captured path parameters, the matched pattern and the matched host.
//
// A Router is built once per snapshot by New and never changes; Match is safe for
// concurrent use. The package must not read the store, decode anything, canonicalise
// paths, lower-case hosts or evaluate vars per request: the caller hands over a
// canonical Request and folds vars and filter_func into Route.Match. Match allocates
// nothing and builds no maps: exact paths are one map lookup, prefixes one walk down a
// compressed byte trie, captures go into the caller's fixed-size Params.
//
// # Patterns
//
//   - No '*' and no ':': exact match, by hash lookup, tried before any prefix.
//   - Otherwise the key is the text before the first ':' if there is one, else before the
//     first '*', and the pattern is a prefix match on it: "/foo*" matches "/foo",
//     "/foobar" and "/foo/x"; "/foo/*" matches "/foo/" and "/foo/x/y", not "/foo".
//   - Captures come from the '/'-separated segments whose first byte is ':' or '*'. If
//     there are any, the whole path must also match the pattern: a ":name" segment
//     matches one non-empty segment ([^/]+); a "*name" segment matches the rest, '/'
//     included, possibly empty (greedy when followed by more of the pattern); a bare "*"
//     segment is captured under the name ":ext" (ExtParam) — what lua-resty-radixtree
//     stores in curr_req_matched, so APISIX's variable for it is "uri_param_:ext". A '*'
//     or ':' inside a segment ("/foo*", "/a:b") only cuts the key and captures nothing.
//   - At most MaxParams (16) captures per pattern. If a name repeats, Params.Get returns
//     the last capture, as the later one overwrites the earlier in APISIX.
//
// # Selection order
//
//  1. Host-bound routes (Route.Hosts non-empty), before every host-less route whatever
//     their priority or path: the exact host's routes, then the wildcard hosts' from the
//     longest suffix to the shortest. "*.foo.com" matches "a.foo.com" and "a.b.foo.com",
//     not "foo.com"; a bare "*" matches every host. New lower-cases route hosts;
//     Request.Host must already be lower-case.
//  2. Host-less routes.
//
// Within a host's routes, and within the host-less ones: the exact path first, then the
// prefix keys from the longest matching one to the shortest. Within one key: Priority
// DESC, then the longer pattern, then input order (route order, then URI order). A route
// with several URIs or hosts is inserted once per (host, URI).
//
// Each candidate must pass, in order: Methods, RemoteAddrs, the pattern's captures, then
// Route.Match(arg). An IPv4-mapped IPv6 client address also matches IPv4 prefixes; an
// invalid one matches no route that has RemoteAddrs. The first candidate that passes wins; a failure falls through to the
// next candidate, i.e. to lower priority on the same key, then to a shorter prefix, then
// to the next host, then to the host-less routes.
//
// # Differences from APISIX
//
//   - A host pattern containing ':' ("foo.com:8080", "*.foo.com:8443") is compared,
//     case-insensitively, with Request.RawHost, the Host header with its port, as
//     radixtree does when hosts are a route condition. In APISIX's radixtree_host_uri
//     such a host is a host-tree key that the port-stripped $host never reaches, so the
//     route never matches. Among exact hosts, one with a port is tried before one
//     without; among wildcards of equal suffix length, likewise.
//   - The pattern's captures are checked before Route.Match, so Params already holds the
//     candidate's captures when Match runs (APISIX evaluates vars first, and its
//     uri_param_* variables are still unset then). A pure Match cannot tell the order.
//   - Literal text in a pattern is literal. lua-resty-radixtree builds a regex from a
//     pattern with captures without escaping the literal segments, so there '.' and a
//     '*' inside a segment are regex operators.
//   - A star inside a pattern (not the last segment) backtracks over the '/' of the path,
//     at most 10 000 tries per candidate; past that the candidate does not match, as
//     PCRE's match limit would stop APISIX's regex. Only pathological patterns with
//     several inner stars get near it.
//   - New refuses a method outside APISIX's ten (GET … PURGE) instead of ignoring it,
//     and an empty host, a '*' anywhere but first in a host, an invalid remote_addrs
//     prefix, an empty pattern or a route without URIs.
package router
