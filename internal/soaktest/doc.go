// Package soaktest holds TestSoak, the soak of issue #11: the real portico binary under
// a steady keep-alive load on one route that never changes, while routes, an upstream,
// a global rule, a consumer and a wasm hook module are rewritten every second. It
// asserts that every request to the unchanged route succeeded, that requests to the
// churned routes only ever got the answers their churn explains, and that open files,
// goroutines, heap, threads and RSS of the portico process stay bounded.
//
// SOAK_DURATION sets how long the load and churn run (default 40s, the CI run that
// `go test ./...` does; `task soak` runs 10m). It must not assert any time bound: a
// slow machine makes a shorter soak, never a failed one.
//
// # Why it samples the process from outside
//
// The soak tests the binary a user runs, so it reads what an operator would: the
// process's /proc entries (fd count, Threads, VmRSS) and the Go runtime series of the
// Prometheus listener (go_goroutines, go_memstats_heap_alloc_bytes). It adds no debug
// endpoint to portico.
//
// # Why its own upstream for the steady load
//
// porticotest's upstreams keep every request they receive, which over a 10-minute soak
// at a thousand requests a second would be the test's own leak. The steady route goes to
// a plain non-recording server; the churned routes, far fewer requests, go to
// porticotest upstreams, whose echo shows what the wasm hook set.
package soaktest
