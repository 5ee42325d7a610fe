;; Hostile: its start function (run at instantiation) never returns.
(module
  (memory (export "memory") 1 1)
  (func $start (loop $forever (br $forever)))
  (start $start)
  (func (export "portico_hook_v1"))
  (func (export "pre_function") (param $phase i32) (result i32) (i32.const 0)))
