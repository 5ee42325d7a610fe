// Package uarestriction is APISIX's ua-restriction: it admits or refuses a request by its
// User-Agent header, matched against regular expressions. Priority 2999, phase access.
//
// Bad input: both or neither of allowlist/denylist, an empty list or entry, a regular
// expression that does not compile, or an empty or over-long message is refused when
// written. A request without User-Agent is refused unless bypass_missing is set.
package uarestriction
