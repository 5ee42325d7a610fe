;; Hostile: no loop at all, yet 2^40 calls (each call of $twice makes two more); the
;; check at every function entry must let the deadline stop it.
(module
  (memory (export "memory") 1 1)
  (func $twice (param $n i32)
    (if (local.get $n)
      (then
        (call $twice (i32.sub (local.get $n) (i32.const 1)))
        (call $twice (i32.sub (local.get $n) (i32.const 1))))))
  (func (export "portico_hook_v1"))
  (func (export "pre_function") (param $phase i32) (result i32)
    (call $twice (i32.const 40))
    (i32.const 0)))
