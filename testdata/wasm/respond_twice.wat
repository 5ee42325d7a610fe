;; Hostile: answers twice. The first answer wins; the second call returns -1.
(module
  (import "portico" "respond" (func $respond (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1 1)
  (data (i32.const 0) "first")
  (data (i32.const 16) "second")
  (func (export "portico_hook_v1"))
  (func (export "pre_function") (param $phase i32) (result i32)
    (drop (call $respond (i32.const 403) (i32.const 0) (i32.const 5)))
    (drop (call $respond (i32.const 500) (i32.const 16) (i32.const 6)))
    (i32.const 1)))
