// Package clientcontrol is APISIX's client-control: it bounds the size of a request body
// per route (nginx's client_max_body_size for that request). Priority 22000, phase rewrite.
//
// A Content-Length over max_body_size is answered 413 before any of the body is read. A
// body without a length (chunked) is wrapped in http.MaxBytesReader: the read that passes
// the limit fails with *http.MaxBytesError, the forward to the upstream fails with it, and
// the proxy answers 413 (the body is streamed, never buffered, so the upstream may have
// received the first max_body_size bytes and then a closed connection, never a complete
// request).
//
// Bad input: a max_body_size that is not an integer, or is negative, is refused when
// written. Nothing is refused at request time but a body over the limit.
package clientcontrol
