// Package uriblocker is APISIX's uri-blocker: it refuses a request whose URI matches one
// of the block rules (regular expressions). Priority 2900, phase rewrite.
//
// The rules are matched against the canonical path (the `uri` variable) with the query,
// and against the request target as the client sent it (APISIX's `request_uri`): a
// request is refused when either matches, so `..`, `//` or `%2e` in the target cannot
// steer around a rule.
//
// Bad input: a missing block_rules, an empty, over-long, repeated or uncompilable rule,
// a rejected_code under 200, or an empty rejected_msg is refused when written.
package uriblocker
