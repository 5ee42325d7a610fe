// Package proxymirror is APISIX's proxy-mirror: a copy of each sampled request goes to
// `host` as well, and its answer is thrown away. Priority 1010, phases rewrite (sample,
// and the mirror's uri, as the Lua computes them) and before_proxy (send).
//
// A mirror never delays or fails the original request: before_proxy hands the copy to
// a bounded queue (256 requests) that a few goroutines (4) of the instance drain; a
// full queue drops the copy, counted in Stats. A request body is copied only up to
// MaxBody (1 MiB): it is read before the request is forwarded (as nginx's mirror reads
// the body first) and replayed to the upstream; a larger body is forwarded untouched and
// not mirrored (counted as skipped). Only requests that reach before_proxy are
// mirrored, as nginx's mirror runs after the access phase.
//
// Bad input: a missing host or one that is not scheme://host[:port] (http, https; grpc
// and grpcs are refused, not supported yet), a path not matching ^/[^?&]+$, an unknown
// path_concat_mode or a sample_ratio outside 0.00001–1 is refused when written. At
// request time a mirror that fails is counted and logged at debug level.
//
// The instance owns goroutines and a connection pool: Close stops them when its
// snapshot retires.
package proxymirror
