;; Hostile: pre_function without its phase parameter, and get_var with a
;; signature the host does not offer.
(module
  (import "portico" "get_var" (func $get_var (param i32 i32) (result i32)))
  (memory (export "memory") 1 1)
  (func (export "portico_hook_v1"))
  (func (export "pre_function") (result i32) (i32.const 0)))
