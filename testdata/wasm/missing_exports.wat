;; Hostile: exports its memory but neither the ABI marker nor pre_function.
(module
  (memory (export "memory") 1 1)
  (func (export "on_request") (param i32) (result i32) (i32.const 0)))
