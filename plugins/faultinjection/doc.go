// Package faultinjection is APISIX's fault-injection: it delays a request, or answers it
// with a configured status, body and headers instead of the upstream, for a share of the
// requests that match its conditions. Priority 11000, phase rewrite.
//
// `vars` is a list of lua-resty-expr rules (plugins/condition) of which any one must
// match; an empty list matches nothing, as in APISIX. The share is drawn with
// math/rand/v2. The delay ends early when the client goes away.
//
// Bad input: an empty config, an abort without http_status or under 200, a delay without
// duration or below 0, a percentage outside 0–100, more than 20 vars or a rule that does
// not compile, or a header name with ':' is refused when written.
package faultinjection
