;; For wasmhost/internal/wasmbin's tests: loops of every shape next to the
;; instructions whose immediates the rewriter must step over, an imported and a defined
;; global before the one it adds, and a loop that never ends.
(module
  (import "env" "g" (global $imported i32))
  (type $pair (func (param i64 i64) (result i64 i64)))
  (memory (export "memory") 1)
  (table 2 funcref)
  (elem (i32.const 0) $double $half)
  (global $counter (mut i32) (i32.const 0))
  (data $d "\01\02\03\04")

  (func $double (param i64) (result i64) (i64.mul (local.get 0) (i64.const 2)))
  (func $half (param i64) (result i64) (i64.div_u (local.get 0) (i64.const 2)))

  ;; sum(n) = 0 + 1 + ... + n - 1, with an inner loop that runs once per round and a
  ;; loop carrying two values (multi-value block type).
  (func (export "sum") (param $n i64) (result i64)
    (local $i i64) (local $acc i64) (local $f f64) (local $v v128)
    (local.set $f (f64.const 1.5))
    (local.set $v (v128.const i32x4 1 2 3 4))
    (drop (f32.const 2.5))
    (memory.fill (i32.const 16) (i32.const 0) (i32.const 8))
    (memory.init $d (i32.const 32) (i32.const 0) (i32.const 4))
    (drop (ref.func $double))
    (drop (ref.is_null (ref.null func)))
    (block $out
      (loop $round
        (br_if $out (i64.ge_u (local.get $i) (local.get $n)))
        (loop $once
          (global.set $counter (i32.add (global.get $counter) (i32.const 1))))
        (local.set $acc (i64.add (local.get $acc) (local.get $i)))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br_table $round $round $out (i32.wrap_i64 (i64.and (local.get $i) (i64.const 1))))))
    (drop (i8x16.extract_lane_u 3 (local.get $v)))
    (drop (select (result i64) (i64.const 1) (i64.const 2) (global.get $imported)))
    (i64.const 0) (local.get $acc)
    (loop $carry (type $pair) (param i64 i64) (result i64 i64))
    (i64.add)
    (call_indirect (type 1) (i32.const 0))
    (call_indirect (type 1) (i32.const 1)))

  (func (export "rounds") (result i32) (global.get $counter))

  (func (export "spin")
    (loop $forever (br $forever))))
