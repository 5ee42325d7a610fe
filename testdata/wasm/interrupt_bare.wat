;; For wasmhost/internal/wasmbin's tests: no memory, no global, no export, a loop in the start
;; function: Prepare must add the three sections in their place and export the start.
(module
  (func $start (local $i i32)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 10)))))
  (start $start))
