;; The seed example of _meta.pre_function: copy the matched uri parameter
;; :user_id into the variable user_id, which later plugins (proxy-rewrite's
;; "/anything/$user_id/world") read.
(module
  (import "portico" "get_var" (func $get_var (param i32 i32 i32 i32) (result i32)))
  (import "portico" "set_var" (func $set_var (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1 1)
  (data (i32.const 0) "uri_param_user_id")
  (data (i32.const 32) "user_id")
  (func (export "portico_hook_v1"))
  (func (export "pre_function") (param $phase i32) (result i32)
    (local $n i32)
    ;; value into 1024..2047; n is its full length, -1 when absent
    (local.set $n (call $get_var (i32.const 0) (i32.const 17) (i32.const 1024) (i32.const 1024)))
    (if (i32.or (i32.lt_s (local.get $n) (i32.const 0)) (i32.gt_s (local.get $n) (i32.const 1024)))
      (then (return (i32.const 0))))
    (drop (call $set_var (i32.const 32) (i32.const 7) (i32.const 1024) (local.get $n)))
    (i32.const 0)))
