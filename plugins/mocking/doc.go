// Package mocking is APISIX's mocking: it answers the request itself with a configured
// status, content type and body (an example with `$var`s resolved, or JSON generated from
// a JSON schema), without calling the upstream. Priority 10900, phase access.
//
// Bad input: neither response_example nor response_schema, an unsupported content_type,
// response_schema with an XML or HTML content type, a response_status under 100, a
// negative delay, or a response header name with ':' is refused when written. The delay
// ends early when the client goes away.
package mocking
