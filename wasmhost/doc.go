// Package wasmhost runs `_meta.pre_function` hooks as sandboxed WebAssembly modules
// under wazero: one runtime (compiler engine where supported, optional on-disk
// compilation cache), modules compiled once per content sha256, a fixed-size pool of
// instances per module and limits, and the host module "portico" that implements ABI
// portico_hook_v1 (DESIGN.md "Hook modules").
//
// It must not let a guest touch the process: a trap, a timeout, a `proc_exit` or a
// pointer outside the guest's memory loses that one instance (it is closed and the pool
// makes a new one when next needed), is logged with the module id, and the plugin still
// runs (APISIX's fail policy for pre_function). Every call is counted in
// portico_wasm_hook_calls_total by module id and result (ok, trap or timeout). It
// imports only plugins and internal/metrics among Portico packages and never reads the
// store: modules come through the resolve function given to HookBuilder.
//
// # What a guest may import
//
// Exactly the nine functions of "portico" (get_var, set_var, get_header, set_header,
// add_header, remove_header, get_conf, respond, log) with the ABI's signatures, and from
// wasi_snapshot_preview1 only what a Go wasip1 reactor links: clocks (the real ones),
// random (crypto/rand), fd_write to stdout and stderr (to the log, one record per
// write, at most 4 KiB), proc_exit, sched_yield, poll_oneoff, and the fd_*, args and
// environ calls Go's os package makes at start, which find nothing: no directory is
// preopened, stdin is empty, args and environ are empty. There is no filesystem, no
// socket and no environment. Anything else, an imported memory included, is refused by
// Validate with the import named.
//
// # Decisions where the ABI is silent
//
//   - Every (ptr, len) and (buf, limit) pair must lie inside the guest's memory, whatever
//     the value's length: one outside is a fault that discards the instance.
//   - pre_function returning 0 lets the request go on; 1 after respond stops it with
//     that response. A respond call stops the request whatever pre_function returns.
//     Returning 1 without respond, or any other value, is a hook error (logged, the
//     plugin runs).
//   - respond takes a final status 200..599 and only in rewrite, access and
//     before_proxy; it returns -1 otherwise, and for any call after the first (the first
//     response wins).
//   - log levels: 0 debug, 1 info, 2 warn, 3 error (others: info); a message is cut at
//     4 KiB.
//   - Header names must be HTTP tokens and values hold no CR, LF or NUL, else -1. On the
//     request side "Host" reads the request's host and set_header/add_header of "Host"
//     sets the host sent upstream; remove_header("Host") is -1. get_header joins
//     repeated lines with ", " as the http_* variables do.
//   - get_conf returns -1 when the reference carries no conf.
//   - An instance is not shared by two calls at once; guest globals survive between the
//     calls one instance serves, so a hook must not keep request state in them.
//
// # How a call's deadline stops it
//
// wazero has no fuel metering, and its WithCloseOnContextDone (loops check a flag the
// context's cancellation sets) spawns a watcher goroutine per call: about 1.1 µs and
// three allocations, four times the rest of a small hook's call. Instead every module
// goes through internal/wasmbin before wazero compiles it: an exported interrupt
// global is checked at every function entry and loop head, and every 8192 checks the
// guest yields to the Go scheduler (the only way a goroutine in compiled wasm can be
// preempted: without it, GOMAXPROCS guests in loops would starve every timer, the
// deadline's included). An instance's timer sets the global when the running call
// passes its deadline; the call traps at its next check and the instance is discarded,
// so the global is never reset. The timer is armed lazily (see instance.expire): on a
// busy instance it fires about once per timeout, not once per call. _initialize runs
// under the same mechanism, bounded by ten times the call timeout (at least 1 s).
//
// The instance is the context.Context wazero and the host functions get: host
// functions find the request from it with no allocation.
//
// # Why a stack of slots, not sync.Pool or a channel
//
// An instance holds its linear memory (a Go guest: megabytes, 4 ms to make), which
// sync.Pool would drop at every GC. The pool has `Instances` slots, each an idle
// instance or empty (nil) for the taker to fill by instantiating; a discarded instance
// gives its slot back empty, so the number of live instances never passes the limit.
// A caller holds a slot by a CAS on it, trying them from a random one (pool.take), so
// callers on different cores rarely meet: a buffered channel of slots did the same, but
// under parallel calls its lock cost more than the call itself. A caller that finds no
// free slot waits on a token channel, with no missed wake-up (pool.free).
package wasmhost
