/**
 * WebAssembly text (module fields) of the data-movement helpers the replacement kernels need
 * between compute calls: strided copies, phase interleaving, column sums. Written in JS they
 * cost 3–7 ns per float, as much as the compute they feed; as wasm SIMD on the backend's own
 * memory 0.3–1.5 ns. All pointers are byte offsets into the tfjs-wasm heap; all data f32.
 * module.ts joins these with gemm-wat.ts into one module, which the build assembles with wabt
 * (build-wasm.ts, into dist/wasm/), so no generated binary lives in the repository.
 */
export const HELPER_FIELDS = String.raw`

  ;; Zeroes count floats at d; returns the pointer past them.
  (func $zero (param $d i32) (param $count i32) (result i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $d) (i32.shl (local.get $count) (i32.const 2))))
    (block $vdone (loop $v
      (br_if $vdone (i32.gt_u (i32.add (local.get $d) (i32.const 16)) (local.get $end)))
      (v128.store (local.get $d) (v128.const i32x4 0 0 0 0))
      (local.set $d (i32.add (local.get $d) (i32.const 16)))
      (br $v)))
    (block $sdone (loop $s
      (br_if $sdone (i32.ge_u (local.get $d) (local.get $end)))
      (f32.store (local.get $d) (f32.const 0))
      (local.set $d (i32.add (local.get $d) (i32.const 4)))
      (br $s)))
    (local.get $end))

  ;; Copies count floats read every stride-th float from s to consecutive floats at d; returns
  ;; the pointer past them. Strides 1 and 2 use SIMD; a stride-2 vector step reads 8 floats, so
  ;; it stops one element early and never reads past the last source element it needs.
  (func $copy (param $d i32) (param $s i32) (param $count i32) (param $stride i32) (result i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $d) (i32.shl (local.get $count) (i32.const 2))))
    (if (i32.eq (local.get $stride) (i32.const 1)) (then
      (block $done (loop $v
        (br_if $done (i32.gt_u (i32.add (local.get $d) (i32.const 16)) (local.get $end)))
        (v128.store (local.get $d) (v128.load (local.get $s)))
        (local.set $d (i32.add (local.get $d) (i32.const 16)))
        (local.set $s (i32.add (local.get $s) (i32.const 16)))
        (br $v)))))
    (if (i32.eq (local.get $stride) (i32.const 2)) (then
      (block $done (loop $v
        (br_if $done (i32.ge_u (i32.add (local.get $d) (i32.const 16)) (local.get $end)))
        (v128.store (local.get $d)
          (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27
            (v128.load (local.get $s)) (v128.load offset=16 (local.get $s))))
        (local.set $d (i32.add (local.get $d) (i32.const 16)))
        (local.set $s (i32.add (local.get $s) (i32.const 32)))
        (br $v)))))
    (block $done (loop $t
      (br_if $done (i32.ge_u (local.get $d) (local.get $end)))
      (f32.store (local.get $d) (f32.load (local.get $s)))
      (local.set $d (i32.add (local.get $d) (i32.const 4)))
      (local.set $s (i32.add (local.get $s) (i32.shl (local.get $stride) (i32.const 2))))
      (br $t)))
    (local.get $end))

  ;; dst[o][c] = sum over r of src[o][r][c]. Rows are summed in f32 in blocks of 256 (a block
  ;; stays in cache across the column passes), blocks in f64 in scratch (cols doubles), so long
  ;; sums keep float64 accuracy.
  (func (export "sumRows") (param $src i32) (param $dst i32) (param $scratch i32)
        (param $outer i32) (param $rows i32) (param $cols i32)
    (local $o i32) (local $r0 i32) (local $rn i32) (local $c i32) (local $r i32) (local $p i32)
    (local $acc v128) (local $sacc f32) (local $q i32) (local $rowBytes i32) (local $vcols i32)
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 2)))
    (local.set $vcols (i32.and (local.get $cols) (i32.const -4)))
    (block $odone (loop $oloop
      (br_if $odone (i32.ge_u (local.get $o) (local.get $outer)))
      (drop (call $zero (local.get $scratch) (i32.shl (local.get $cols) (i32.const 1))))
      (local.set $r0 (i32.const 0))
      (block $rdone (loop $rloop
        (br_if $rdone (i32.ge_u (local.get $r0) (local.get $rows)))
        (local.set $rn (i32.sub (local.get $rows) (local.get $r0)))
        (if (i32.gt_u (local.get $rn) (i32.const 256)) (then (local.set $rn (i32.const 256))))
        (local.set $c (i32.const 0))
        (block $cdone (loop $cloop
          (br_if $cdone (i32.ge_u (local.get $c) (local.get $cols)))
          (local.set $p (i32.add (local.get $src) (i32.shl
            (i32.add (i32.mul (i32.add (i32.mul (local.get $o) (local.get $rows)) (local.get $r0)) (local.get $cols)) (local.get $c))
            (i32.const 2))))
          (local.set $q (i32.add (local.get $scratch) (i32.shl (local.get $c) (i32.const 3))))
          (local.set $r (i32.const 0))
          (if (i32.lt_u (local.get $c) (local.get $vcols))
            (then
              (local.set $acc (v128.const i32x4 0 0 0 0))
              (block $vdone (loop $v
                (br_if $vdone (i32.ge_u (local.get $r) (local.get $rn)))
                (local.set $acc (f32x4.add (local.get $acc) (v128.load (local.get $p))))
                (local.set $p (i32.add (local.get $p) (local.get $rowBytes)))
                (local.set $r (i32.add (local.get $r) (i32.const 1)))
                (br $v)))
              (v128.store (local.get $q) (f64x2.add (v128.load (local.get $q)) (f64x2.promote_low_f32x4 (local.get $acc))))
              (v128.store offset=16 (local.get $q) (f64x2.add (v128.load offset=16 (local.get $q))
                (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $acc) (local.get $acc)))))
              (local.set $c (i32.add (local.get $c) (i32.const 4))))
            (else
              (local.set $sacc (f32.const 0))
              (block $sdone (loop $s
                (br_if $sdone (i32.ge_u (local.get $r) (local.get $rn)))
                (local.set $sacc (f32.add (local.get $sacc) (f32.load (local.get $p))))
                (local.set $p (i32.add (local.get $p) (local.get $rowBytes)))
                (local.set $r (i32.add (local.get $r) (i32.const 1)))
                (br $s)))
              (f64.store (local.get $q) (f64.add (f64.load (local.get $q)) (f64.promote_f32 (local.get $sacc))))
              (local.set $c (i32.add (local.get $c) (i32.const 1)))))
          (br $cloop)))
        (local.set $r0 (i32.add (local.get $r0) (i32.const 256)))
        (br $rloop)))
      (local.set $c (i32.const 0))
      (block $wdone (loop $wloop
        (br_if $wdone (i32.ge_u (local.get $c) (local.get $cols)))
        (f32.store
          (i32.add (local.get $dst) (i32.shl (i32.add (i32.mul (local.get $o) (local.get $cols)) (local.get $c)) (i32.const 2)))
          (f32.demote_f64 (f64.load (i32.add (local.get $scratch) (i32.shl (local.get $c) (i32.const 3))))))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $wloop)))
      (local.set $o (i32.add (local.get $o) (i32.const 1)))
      (br $oloop))))

  ;; Writes one phase of a strided transposed conv into dx: src [batch, mh, mw, ch] goes to
  ;; dx[b, my*sh + ry, mx*sw + rx, :] for the positions inside dx [batch, inH, inW, ch].
  (func (export "interleavePhase") (param $src i32) (param $dst i32) (param $batch i32)
        (param $mh i32) (param $mw i32) (param $ch i32) (param $inH i32) (param $inW i32)
        (param $sh i32) (param $sw i32) (param $ry i32) (param $rx i32)
    (local $b i32) (local $my i32) (local $mx i32) (local $y i32) (local $x i32) (local $s i32)
    (block $bdone (loop $bloop
      (br_if $bdone (i32.ge_u (local.get $b) (local.get $batch)))
      (local.set $my (i32.const 0))
      (block $ydone (loop $yloop
        (br_if $ydone (i32.ge_u (local.get $my) (local.get $mh)))
        (local.set $y (i32.add (i32.mul (local.get $my) (local.get $sh)) (local.get $ry)))
        (br_if $ydone (i32.ge_u (local.get $y) (local.get $inH)))
        (local.set $s (i32.add (local.get $src) (i32.shl
          (i32.mul (i32.mul (i32.add (i32.mul (local.get $b) (local.get $mh)) (local.get $my)) (local.get $mw)) (local.get $ch))
          (i32.const 2))))
        (local.set $mx (i32.const 0))
        (block $xdone (loop $xloop
          (br_if $xdone (i32.ge_u (local.get $mx) (local.get $mw)))
          (local.set $x (i32.add (i32.mul (local.get $mx) (local.get $sw)) (local.get $rx)))
          (br_if $xdone (i32.ge_u (local.get $x) (local.get $inW)))
          (drop (call $copy
            (i32.add (local.get $dst) (i32.shl
              (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $inH)) (local.get $y)) (local.get $inW)) (local.get $x)) (local.get $ch))
              (i32.const 2)))
            (local.get $s) (local.get $ch) (i32.const 1)))
          (local.set $s (i32.add (local.get $s) (i32.shl (local.get $ch) (i32.const 2))))
          (local.set $mx (i32.add (local.get $mx) (i32.const 1)))
          (br $xloop)))
        (local.set $my (i32.add (local.get $my) (i32.const 1)))
        (br $yloop)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $bloop))))

  ;; e^z on four lanes, z clamped to [-87, 87] (Cephes expf: range reduction by ln 2 split in two
  ;; constants, degree-6 polynomial, 2^n built in the exponent bits; ≈ 1 ulp).
  (func $exp4 (param $z v128) (result v128)
    (local $n v128) (local $r v128) (local $p v128)
    (local.set $z (f32x4.min (f32x4.max (local.get $z) (v128.const f32x4 -87 -87 -87 -87)) (v128.const f32x4 87 87 87 87)))
    (local.set $n (f32x4.nearest (f32x4.mul (local.get $z) (v128.const f32x4 1.44269504 1.44269504 1.44269504 1.44269504))))
    (local.set $r (f32x4.sub (local.get $z) (f32x4.mul (local.get $n) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375))))
    (local.set $r (f32x4.add (local.get $r) (f32x4.mul (local.get $n) (v128.const f32x4 2.12194440e-4 2.12194440e-4 2.12194440e-4 2.12194440e-4))))
    (local.set $p (v128.const f32x4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1)))
    (local.set $p (f32x4.add (f32x4.add (f32x4.mul (local.get $p) (f32x4.mul (local.get $r) (local.get $r))) (local.get $r))
      (v128.const f32x4 1 1 1 1)))
    (f32x4.mul (local.get $p)
      (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $n)) (v128.const i32x4 127 127 127 127)) (i32.const 23))))

  ;; tanh(c·(x + 0.044715·x³)) for GELU's tanh form, as 1 − 2/(e^{2u} + 1).
  (func $geluTanh4 (param $x v128) (result v128)
    (local $u v128)
    (local.set $u (f32x4.mul (f32x4.mul (local.get $x) (v128.const f32x4 0.7978845608 0.7978845608 0.7978845608 0.7978845608))
      (f32x4.add (v128.const f32x4 1 1 1 1)
        (f32x4.mul (f32x4.mul (local.get $x) (local.get $x)) (v128.const f32x4 0.044715 0.044715 0.044715 0.044715)))))
    (f32x4.sub (v128.const f32x4 1 1 1 1)
      (f32x4.div (v128.const f32x4 2 2 2 2)
        (f32x4.add (call $exp4 (f32x4.add (local.get $u) (local.get $u))) (v128.const f32x4 1 1 1 1)))))

  (func $gelu4 (param $x v128) (result v128)
    (f32x4.mul (f32x4.mul (local.get $x) (v128.const f32x4 0.5 0.5 0.5 0.5))
      (f32x4.add (v128.const f32x4 1 1 1 1) (call $geluTanh4 (local.get $x)))))

  ;; d gelu / dx · dy = dy · (0.5(1 + t) + 0.5·x·(1 − t²)·c·(1 + 3·0.044715·x²))
  (func $geluGrad4 (param $x v128) (param $dy v128) (result v128)
    (local $t v128) (local $x2 v128)
    (local.set $t (call $geluTanh4 (local.get $x)))
    (local.set $x2 (f32x4.mul (local.get $x) (local.get $x)))
    (f32x4.mul (local.get $dy)
      (f32x4.add
        (f32x4.mul (v128.const f32x4 0.5 0.5 0.5 0.5) (f32x4.add (v128.const f32x4 1 1 1 1) (local.get $t)))
        (f32x4.mul
          (f32x4.mul (f32x4.mul (local.get $x) (v128.const f32x4 0.3989422804 0.3989422804 0.3989422804 0.3989422804))
            (f32x4.sub (v128.const f32x4 1 1 1 1) (f32x4.mul (local.get $t) (local.get $t))))
          (f32x4.add (v128.const f32x4 1 1 1 1) (f32x4.mul (local.get $x2) (v128.const f32x4 0.134145 0.134145 0.134145 0.134145)))))))

  ;; y = gelu(x) (tanh form) over count floats; the < 4 tail one lane at a time.
  (func (export "geluForward") (param $x i32) (param $y i32) (param $count i32)
    (local $end i32) (local $vend i32)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $count) (i32.const 2))))
    (local.set $vend (i32.add (local.get $x) (i32.shl (i32.and (local.get $count) (i32.const -4)) (i32.const 2))))
    (block $vdone (loop $v
      (br_if $vdone (i32.ge_u (local.get $x) (local.get $vend)))
      (v128.store (local.get $y) (call $gelu4 (v128.load (local.get $x))))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (local.set $y (i32.add (local.get $y) (i32.const 16)))
      (br $v)))
    (block $sdone (loop $s
      (br_if $sdone (i32.ge_u (local.get $x) (local.get $end)))
      (f32.store (local.get $y) (f32x4.extract_lane 0 (call $gelu4 (f32x4.splat (f32.load (local.get $x))))))
      (local.set $x (i32.add (local.get $x) (i32.const 4)))
      (local.set $y (i32.add (local.get $y) (i32.const 4)))
      (br $s))))

  ;; dx = dy · gelu'(x) over count floats.
  (func (export "geluBackward") (param $x i32) (param $dy i32) (param $dx i32) (param $count i32)
    (local $end i32) (local $vend i32)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $count) (i32.const 2))))
    (local.set $vend (i32.add (local.get $x) (i32.shl (i32.and (local.get $count) (i32.const -4)) (i32.const 2))))
    (block $vdone (loop $v
      (br_if $vdone (i32.ge_u (local.get $x) (local.get $vend)))
      (v128.store (local.get $dx) (call $geluGrad4 (v128.load (local.get $x)) (v128.load (local.get $dy))))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (local.set $dy (i32.add (local.get $dy) (i32.const 16)))
      (local.set $dx (i32.add (local.get $dx) (i32.const 16)))
      (br $v)))
    (block $sdone (loop $s
      (br_if $sdone (i32.ge_u (local.get $x) (local.get $end)))
      (f32.store (local.get $dx) (f32x4.extract_lane 0
        (call $geluGrad4 (f32x4.splat (f32.load (local.get $x))) (f32x4.splat (f32.load (local.get $dy))))))
      (local.set $x (i32.add (local.get $x) (i32.const 4)))
      (local.set $dy (i32.add (local.get $dy) (i32.const 4)))
      (local.set $dx (i32.add (local.get $dx) (i32.const 4)))
      (br $s))))

  ;; Zeroes count floats at d (for outputs not every phase writes).
  (func (export "fillZero") (param $d i32) (param $count i32)
    (drop (call $zero (local.get $d) (local.get $count))))
`;
