;; Hostile: grows its memory one page at a time until the host refuses, then
;; traps, as a guest that runs out of memory does.
(module
  (memory (export "memory") 1)
  (func (export "portico_hook_v1"))
  (func (export "pre_function") (param $phase i32) (result i32)
    (loop $grow
      (br_if $grow (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
    unreachable))
