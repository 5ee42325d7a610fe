// Package porticotest starts the real portico binary for integration tests: it builds
// ./cmd/portico once per test binary, runs it on 127.0.0.1 ports it reads back from the
// start-up log line, and gives small helpers to call the Admin API and the proxy and to
// run recording upstreams.
//
// It must not stub any part of portico: a test that uses it talks to the process over
// TCP exactly as a user would. Need fails, never skips, under CI=true.
package porticotest
