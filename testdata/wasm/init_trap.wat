;; Hostile: traps in _initialize, so no instance can ever be made.
(module
  (memory (export "memory") 1 1)
  (func (export "_initialize") unreachable)
  (func (export "portico_hook_v1"))
  (func (export "pre_function") (param $phase i32) (result i32) (i32.const 0)))
