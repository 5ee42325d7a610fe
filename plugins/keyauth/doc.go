// Package keyauth is APISIX's key-auth: it identifies the consumer by an API key read
// from a request header (default "apikey") or, failing that, a query argument (default
// "apikey"). Priority 2500, phase rewrite, type auth.
//
// Consumers (and credentials) carry {"key": "..."}; Index builds the key → consumer map
// once per snapshot and refuses a key two consumers share. On a request the key is looked
// up in that map; nothing is parsed or allocated beyond reading the header or query.
//
// Bad input: a route config with an empty or unprintable realm or an empty
// anonymous_consumer, or a consumer config without a key, is refused when written. A
// request without a key gets 401 {"message":"Missing API key in request"}, one with an
// unknown key 401 {"message":"Invalid API key in request"}, both with
// `WWW-Authenticate: apikey realm="<realm>"` — unless anonymous_consumer is set: then that
// consumer is attached instead, and if it does not exist the answer is 401
// {"message":"Invalid user authorization"}.
package keyauth
