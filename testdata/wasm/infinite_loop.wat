;; Hostile: never returns; the per-call deadline must stop it.
(module
  (memory (export "memory") 1 1)
  (func (export "portico_hook_v1"))
  (func (export "pre_function") (param $phase i32) (result i32)
    (loop $forever (br $forever))
    (i32.const 0)))
