;; For wasmhost/internal/wasmbin's tests: the module "env" whose global
;; interrupt_loops.wat imports (non-zero, so a check reading it by mistake traps).
(module
  (global (export "g") i32 (i32.const 7)))
