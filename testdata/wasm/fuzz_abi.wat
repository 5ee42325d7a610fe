;; For FuzzHostABI: runs a program the fuzzer wrote, handing the host whatever pointers,
;; lengths and values it holds. pre_function reads the variable "fuzz" into memory at 0
;; (at most 4096 bytes; the name lives at 65532) and runs it as records of five
;; little-endian i32 (op, a, b, c, d); op mod 12 picks what the record does:
;;   0 get_var(a, b, c, d)     1 set_var(a, b, c, d)     2 get_header(a, b, c, d)
;;   3 set_header(a, b, c, d)  4 add_header(a, b, c, d)  5 remove_header(a, b)
;;   6 get_conf(a, b)          7 respond(a, b, c)        8 log(a, b, c)
;;   9 return a                10 memory.grow(a)         11 unreachable
;; Host results are dropped. Host calls may overwrite records not yet run.
(module
  (import "portico" "get_var" (func $get_var (param i32 i32 i32 i32) (result i32)))
  (import "portico" "set_var" (func $set_var (param i32 i32 i32 i32) (result i32)))
  (import "portico" "get_header" (func $get_header (param i32 i32 i32 i32) (result i32)))
  (import "portico" "set_header" (func $set_header (param i32 i32 i32 i32) (result i32)))
  (import "portico" "add_header" (func $add_header (param i32 i32 i32 i32) (result i32)))
  (import "portico" "remove_header" (func $remove_header (param i32 i32) (result i32)))
  (import "portico" "get_conf" (func $get_conf (param i32 i32) (result i32)))
  (import "portico" "respond" (func $respond (param i32 i32 i32) (result i32)))
  (import "portico" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1 2)
  (data (i32.const 65532) "fuzz")
  (func (export "portico_hook_v1"))
  (func (export "pre_function") (param $phase i32) (result i32)
    (local $n i32) (local $i i32)
    (local $a i32) (local $b i32) (local $c i32) (local $d i32)
    (local.set $n (call $get_var (i32.const 65532) (i32.const 4) (i32.const 0) (i32.const 4096)))
    (if (i32.gt_u (local.get $n) (i32.const 4096))
      (then (return (i32.const 0))))
    (block $done
      (loop $next
        (br_if $done (i32.gt_u (i32.add (local.get $i) (i32.const 20)) (local.get $n)))
        (local.set $a (i32.load offset=4 (local.get $i)))
        (local.set $b (i32.load offset=8 (local.get $i)))
        (local.set $c (i32.load offset=12 (local.get $i)))
        (local.set $d (i32.load offset=16 (local.get $i)))
        (local.set $i (i32.add (local.get $i) (i32.const 20)))
        (block $unreachable (block $grow (block $return
        (block $log (block $respond (block $get_conf (block $remove_header
        (block $add_header (block $set_header (block $get_header (block $set_var (block $get_var
          (br_table $get_var $set_var $get_header $set_header $add_header $remove_header
                    $get_conf $respond $log $return $grow $unreachable
            (i32.rem_u (i32.load (i32.sub (local.get $i) (i32.const 20))) (i32.const 12))))
          (drop (call $get_var (local.get $a) (local.get $b) (local.get $c) (local.get $d)))
          (br $next))
          (drop (call $set_var (local.get $a) (local.get $b) (local.get $c) (local.get $d)))
          (br $next))
          (drop (call $get_header (local.get $a) (local.get $b) (local.get $c) (local.get $d)))
          (br $next))
          (drop (call $set_header (local.get $a) (local.get $b) (local.get $c) (local.get $d)))
          (br $next))
          (drop (call $add_header (local.get $a) (local.get $b) (local.get $c) (local.get $d)))
          (br $next))
          (drop (call $remove_header (local.get $a) (local.get $b)))
          (br $next))
          (drop (call $get_conf (local.get $a) (local.get $b)))
          (br $next))
          (drop (call $respond (local.get $a) (local.get $b) (local.get $c)))
          (br $next))
          (call $log (local.get $a) (local.get $b) (local.get $c))
          (br $next))
          (return (local.get $a)))
          (drop (memory.grow (local.get $a)))
          (br $next))
          unreachable))
    (i32.const 0)))
