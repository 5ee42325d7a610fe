// Package jwtauth is APISIX's jwt-auth: it identifies the consumer by a JSON Web Token
// read from a header (default "authorization", "Bearer " prefix optional), a query
// argument (default "jwt") or a cookie (default "jwt"). Priority 2510, phase rewrite,
// type auth.
//
// The token's key claim (default "key") names the consumer; the consumer's config holds
// the algorithm and the secret (HS*) or PEM public key (RS*, PS*, ES*, EdDSA). Index
// parses every key once per snapshot and builds, per consumer, golang-jwt parsers
// restricted to that consumer's algorithm: a token signed with any other algorithm
// (including "none", or HS256 against an RSA public key) is refused. exp and nbf are
// enforced when present (required when listed in claims_to_verify), with the consumer's
// lifetime_grace_period as leeway.
//
// Bad input: an unknown algorithm, an HS algorithm without secret, a secret that is not
// base64 with base64_secret, an asymmetric algorithm without a parsable public_key, or an
// empty key is refused when written. On a request, all 401 with
// `WWW-Authenticate: Bearer realm="<realm>"`: no token → "Missing JWT token in request";
// not a JWT → "JWT token invalid"; no key claim → "missing user key in JWT token";
// unknown key → "Invalid user key in JWT token"; wrong algorithm, bad signature, expired
// or not yet valid → "failed to verify jwt". With anonymous_consumer that consumer is
// attached instead, and if it does not exist the answer is 401
// {"message":"Invalid user authorization"}.
//
// Secrets are never logged or echoed; the Admin API must hide `secret` and
// `private_key` when it returns a consumer.
package jwtauth
