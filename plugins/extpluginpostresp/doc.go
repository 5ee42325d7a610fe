// Package extpluginpostresp is APISIX's ext-plugin-post-resp: it hands the upstream's
// answer to the external Plugin Runner's response filters before the client sees it.
// Priority -4000, phases before_proxy (buffers the request body, so the runner can still
// ask for it) and the upstream response step (plugins.UpstreamResponsePhase).
//
// APISIX makes the upstream request itself with lua-resty-http (no retries, no
// keepalive, no upstream mTLS, proxy-mirror unavailable). Portico does not: the proxy
// makes the upstream request as for any route (balancer, retries, timeouts, health,
// TLS) and hands the response over once its status and headers arrived; the runner gets
// them in HTTPRespCall, asks for the body through ExtraInfo RespBody (read whole, once,
// and still sent), and its reply is applied onto the response, which then goes through
// the header and body filters as any upstream response. See extplugin for the fields.
//
// Bad input: as ext-plugin-pre-req (an empty conf list, an entry without name or value,
// a name longer than 128 bytes) is refused when written. A runner that cannot be
// reached, times out or answers an error gives 503, or lets the upstream's response
// through unchanged with allow_degradation.
package extpluginpostresp
