;; Hostile: hands the host pointers outside its memory. Phase 1: the name;
;; phase 2: the buffer ends past the last page; phase 3: a length that wraps.
(module
  (import "portico" "get_var" (func $get_var (param i32 i32 i32 i32) (result i32)))
  (import "portico" "set_header" (func $set_header (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1 1)
  (data (i32.const 0) "uri")
  (func (export "portico_hook_v1"))
  (func (export "pre_function") (param $phase i32) (result i32)
    (if (i32.eq (local.get $phase) (i32.const 1))
      (then (drop (call $get_var (i32.const 0xfffffff0) (i32.const 16) (i32.const 1024) (i32.const 64)))))
    (if (i32.eq (local.get $phase) (i32.const 2))
      (then (drop (call $get_var (i32.const 0) (i32.const 3) (i32.const 65530) (i32.const 100)))))
    (if (i32.eq (local.get $phase) (i32.const 3))
      (then (drop (call $set_header (i32.const 0) (i32.const 3) (i32.const 16) (i32.const -1)))))
    (i32.const 0)))
