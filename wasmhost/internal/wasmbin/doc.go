// Package wasmbin prepares a guest's WebAssembly binary before wazero decodes it. It
// does two things in one pass over the binary:
//
//   - It bounds every size the binary declares. wazero allocates by a declared count
//     before it reads the entries (a vector of 2^32 locals, a data segment "of 4 GiB"),
//     so a 30-byte module could exhaust the host's memory during compilation. Every
//     count and length must fit in the bytes that follow it and stay under the
//     implementation limits browsers apply (the WebAssembly JS API's: 50 000 locals a
//     function, 1 000 params or results, 100 000 imports or exports, ...), and a table
//     may hold at most MaxTableEntries, growth included (its maximum is lowered to
//     that; table.grow past it returns -1 as the spec allows).
//
//   - It adds one mutable i32 global, exported as InterruptExport, and at the head of
//     every loop a check that traps (unreachable) once the global is non-zero. Setting
//     the global from another goroutine stops a running call at its next loop
//     iteration; straight-line code, calls and recursion end by themselves (the stack
//     is bounded), so loops are the only place a guest can run forever. wazero offers
//     the same with WithCloseOnContextDone at the price of a watcher goroutine per call
//     (about half the cost of a small hook, see ../../doc.go), and its loop check is an
//     indirect call where this one is a load and a branch.
//
// A start section becomes an export (StartExport) for the host to call under its
// deadline; wazero would run it within instantiation, uninterruptible. Custom sections
// are dropped: DWARF offsets would no longer hold after the rewrite,
// and the "name" section only names frames in the stack traces the host does not
// show.
//
// It owns only the binary: it decodes sections and instructions just enough for the
// above (WebAssembly 2.0: MVP, sign extension, non-trapping conversions, bulk memory,
// reference types, multi-value, SIMD; what wazero's CoreFeaturesV2 compiles) and
// leaves validation to wazero. An instruction outside that set is an error, never
// skipped. It imports nothing from Portico.
package wasmbin
