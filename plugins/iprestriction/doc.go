// Package iprestriction is APISIX's ip-restriction: it admits or refuses a request by
// client address (the remote_addr variable, after real-ip). Priority 3000, phase access.
//
// Bad input: both or neither of whitelist/blacklist, an empty list, an entry that is no
// IP or CIDR, an empty or over-long message, or a response_code other than 403/404 is
// refused when written. A client address that is not a valid IP is refused at request
// time in both modes (APISIX lets it through a blacklist).
package iprestriction
