;; Hostile: imports outside the ABI: a function of another module and a WASI
;; filesystem call.
(module
  (import "env" "abort" (func $abort (param i32 i32 i32 i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 1 1)
  (func (export "portico_hook_v1"))
  (func (export "pre_function") (param $phase i32) (result i32) (i32.const 0)))
