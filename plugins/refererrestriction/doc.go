// Package refererrestriction is APISIX's referer-restriction: it admits or refuses a
// request by the host of its Referer header. Priority 2990, phase access.
//
// Bad input: both or neither of whitelist/blacklist, an empty list, an entry that is no
// host pattern, or an empty or over-long message is refused when written. A request whose
// Referer is missing or unparsable is refused unless bypass_missing is set.
package refererrestriction
