;; Reads one variable and sets one header: x-route-id: $route_id. The
;; benchmark hook.
(module
  (import "portico" "get_var" (func $get_var (param i32 i32 i32 i32) (result i32)))
  (import "portico" "set_header" (func $set_header (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1 1)
  (data (i32.const 0) "route_id")
  (data (i32.const 32) "x-route-id")
  (func (export "portico_hook_v1"))
  (func (export "pre_function") (param $phase i32) (result i32)
    (local $n i32)
    (local.set $n (call $get_var (i32.const 0) (i32.const 8) (i32.const 1024) (i32.const 256)))
    (if (i32.or (i32.lt_s (local.get $n) (i32.const 0)) (i32.gt_s (local.get $n) (i32.const 256)))
      (then (return (i32.const 0))))
    (drop (call $set_header (i32.const 32) (i32.const 10) (i32.const 1024) (local.get $n)))
    (i32.const 0)))
