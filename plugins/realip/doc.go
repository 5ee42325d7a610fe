// Package realip is APISIX's real-ip: it replaces the client address with one taken from
// a header or another variable (X-Forwarded-For, X-Real-IP, a query argument), so
// remote_addr and every later plugin (ip-restriction, limit-*) see the real client.
// Priority 23000, phase rewrite.
//
// It sets Ctx.Remote; nothing else is kept. With trusted_addresses, only a request from a
// trusted peer is rewritten; with recursive, X-Forwarded-For is walked from the right
// past trusted proxies.
//
// Bad input: a missing or empty source, an empty trusted_addresses, or an entry that is
// no IP or CIDR is refused when written. A missing source value, an address that is not
// an IP, or a port outside 1–65535 leaves the client address as it was.
package realip
