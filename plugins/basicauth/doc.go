// Package basicauth is APISIX's basic-auth: it identifies the consumer by the username
// and password of an `Authorization: Basic …` header. Priority 2520, phase rewrite, type
// auth.
//
// Consumers (and credentials) carry {"username": "...", "password": "..."}; Index builds
// the username → consumer map once per snapshot and refuses a username two consumers
// share. Passwords are compared in constant time.
//
// Bad input: a route config with an empty or unprintable realm or an empty
// anonymous_consumer, or a consumer config without username or password, is refused when
// written. On a request: no Authorization header → 401 {"message":"Missing authorization
// in request"}; a header that is not `Basic <base64 of user:password>` → 401
// {"message":"Invalid authorization in request"}; an unknown user or a wrong password →
// 401 {"message":"Invalid user authorization"}; all with `WWW-Authenticate: Basic
// realm="<realm>"`. With anonymous_consumer that consumer is attached instead, and if it
// does not exist the answer is 401 {"message":"Invalid user authorization"}.
package basicauth
