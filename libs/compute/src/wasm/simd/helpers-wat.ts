/**
 * WebAssembly text (module fields) of the data-movement helpers the replacement kernels need
 * between compute calls: strided copies, phase interleaving, column sums. Written in JS they
 * cost 3–7 ns per float, as much as the compute they feed; as wasm SIMD on the backend's own
 * memory 0.3–1.5 ns. All pointers are byte offsets into the tfjs-wasm heap; all data f32.
 * module.ts joins these with gemm-wat.ts into one module, which the build assembles with wabt
 * (build-wasm.ts, into dist/wasm/), so no generated binary lives in the repository.
 */
/**
 * Rows per block of LayerNorm's backward (layerNormBackwardBlocks): its γ/β sums are float32
 * within a block and float64 across blocks; intra-op threads split a call by these blocks.
 */
export const LN_BLOCK_ROWS = 256;

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

  ;; Zeroes count floats at d (for outputs not every phase writes).
  (func (export "fillZero") (param $d i32) (param $count i32)
    (drop (call $zero (local.get $d) (local.get $count))))

  ;; 1 if a pixel whose keep value (one f32 per pixel) is 0 has a nonzero value among its c
  ;; floats (c % 4 = 0), else 0: whether a feature map really is zero where a mask drops it.
  (func (export "droppedNonzero") (param $x i32) (param $keep i32) (param $pixels i32) (param $c i32) (result i32)
    (local $end i32) (local $k i32) (local $rowBytes i32) (local $any v128)
    (local.set $rowBytes (i32.shl (local.get $c) (i32.const 2)))
    (local.set $end (i32.add (local.get $keep) (i32.shl (local.get $pixels) (i32.const 2))))
    (block $done (loop $p
      (br_if $done (i32.ge_u (local.get $keep) (local.get $end)))
      (if (f32.eq (f32.load (local.get $keep)) (f32.const 0)) (then
        (local.set $k (i32.const 0))
        (block $cd (loop $cl
          (br_if $cd (i32.ge_u (local.get $k) (local.get $rowBytes)))
          (local.set $any (v128.or (local.get $any)
            (f32x4.ne (v128.load (i32.add (local.get $x) (local.get $k))) (v128.const f32x4 0 0 0 0))))
          (local.set $k (i32.add (local.get $k) (i32.const 16)))
          (br $cl)))))
      (local.set $x (i32.add (local.get $x) (local.get $rowBytes)))
      (local.set $keep (i32.add (local.get $keep) (i32.const 4)))
      (br $p)))
    (v128.any_true (local.get $any)))

  ;; The four lanes of v added.
  (func $hsum4 (param $v v128) (result f32)
    (f32.add (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))

  ;; totals[i] += src[i] (float64 += float32) for count floats, src left as it is.
  (func $addSums (param $src i32) (param $totals i32) (param $count i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $count) (i32.const 2))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
      (f64.store (local.get $totals) (f64.add (f64.load (local.get $totals)) (f64.promote_f32 (f32.load (local.get $src)))))
      (local.set $src (i32.add (local.get $src) (i32.const 4)))
      (local.set $totals (i32.add (local.get $totals) (i32.const 8)))
      (br $l))))

  ;; dst[i] = float32(totals[i]) for count values.
  (func $demoteSums (param $totals i32) (param $dst i32) (param $count i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $dst) (i32.shl (local.get $count) (i32.const 2))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $dst) (local.get $end)))
      (f32.store (local.get $dst) (f32.demote_f64 (f64.load (local.get $totals))))
      (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
      (local.set $totals (i32.add (local.get $totals) (i32.const 8)))
      (br $l))))

  ;; LayerNorm over rows of c floats (c a multiple of 4): y = (x − mean)·rstd·γ + β with
  ;; rstd = 1/√(mean((x − mean)²) + eps), the variance from the centred row as the composed ops
  ;; compute it. Writes (mean, rstd) per row to stats for the backward. One row stays in L1
  ;; across its three passes, so x is read from memory once.
  (func (export "layerNormForward") (param $x i32) (param $gamma i32) (param $beta i32) (param $y i32)
        (param $stats i32) (param $rows i32) (param $c i32) (param $eps f32)
    (local $r i32) (local $k i32) (local $rowBytes i32) (local $inv f32) (local $mean f32)
    (local $acc v128) (local $m v128) (local $rs v128) (local $d v128)
    (local.set $rowBytes (i32.shl (local.get $c) (i32.const 2)))
    (local.set $inv (f32.div (f32.const 1) (f32.convert_i32_u (local.get $c))))
    (block $rdone (loop $rloop
      (br_if $rdone (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $acc (v128.const i32x4 0 0 0 0))
      (local.set $k (i32.const 0))
      (block $d1 (loop $l1
        (br_if $d1 (i32.ge_u (local.get $k) (local.get $rowBytes)))
        (local.set $acc (f32x4.add (local.get $acc) (v128.load (i32.add (local.get $x) (local.get $k)))))
        (local.set $k (i32.add (local.get $k) (i32.const 16)))
        (br $l1)))
      (local.set $mean (f32.mul (call $hsum4 (local.get $acc)) (local.get $inv)))
      (local.set $m (f32x4.splat (local.get $mean)))
      (local.set $acc (v128.const i32x4 0 0 0 0))
      (local.set $k (i32.const 0))
      (block $d2 (loop $l2
        (br_if $d2 (i32.ge_u (local.get $k) (local.get $rowBytes)))
        (local.set $d (f32x4.sub (v128.load (i32.add (local.get $x) (local.get $k))) (local.get $m)))
        (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $d) (local.get $d))))
        (local.set $k (i32.add (local.get $k) (i32.const 16)))
        (br $l2)))
      (f32.store (local.get $stats) (local.get $mean))
      (f32.store offset=4 (local.get $stats) (f32.div (f32.const 1)
        (f32.sqrt (f32.add (f32.mul (call $hsum4 (local.get $acc)) (local.get $inv)) (local.get $eps)))))
      (local.set $rs (f32x4.splat (f32.load offset=4 (local.get $stats))))
      (local.set $k (i32.const 0))
      (block $d3 (loop $l3
        (br_if $d3 (i32.ge_u (local.get $k) (local.get $rowBytes)))
        (v128.store (i32.add (local.get $y) (local.get $k))
          (f32x4.add
            (f32x4.mul (f32x4.mul (f32x4.sub (v128.load (i32.add (local.get $x) (local.get $k))) (local.get $m)) (local.get $rs))
              (v128.load (i32.add (local.get $gamma) (local.get $k))))
            (v128.load (i32.add (local.get $beta) (local.get $k)))))
        (local.set $k (i32.add (local.get $k) (i32.const 16)))
        (br $l3)))
      (local.set $x (i32.add (local.get $x) (local.get $rowBytes)))
      (local.set $y (i32.add (local.get $y) (local.get $rowBytes)))
      (local.set $stats (i32.add (local.get $stats) (i32.const 8)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rloop))))

  ;; LayerNorm's backward from x, dy, γ and the forward's (mean, rstd) per row, x̂ recomputed, in
  ;; two calls. layerNormBackwardBlocks: with g = dy·γ, dx = rstd·(g − mean(g) − x̂·mean(g·x̂)),
  ;; and per block of ${LN_BLOCK_ROWS} rows (the last one may be shorter) the float32 sums
  ;; Σ dy·x̂ and Σ dy over its rows, written to blockSums (2·c floats per block). Blocks are
  ;; independent, so intra-op threads can split a call by blocks. sumShares then adds the blocks in
  ;; order in float64: dγ and dβ, the same additions in the same order as when one loop did both.
  (func (export "layerNormBackwardBlocks") (param $x i32) (param $dy i32) (param $gamma i32) (param $stats i32)
        (param $dx i32) (param $blockSums i32) (param $rows i32) (param $c i32)
    (local $r i32) (local $k i32) (local $rowBytes i32) (local $blockG i32) (local $blockB i32)
    (local $inBlock i32) (local $inv f32)
    (local $m v128) (local $rs v128) (local $xh v128) (local $dyv v128) (local $g v128)
    (local $s1 v128) (local $s2 v128) (local $a v128) (local $b v128)
    (local.set $rowBytes (i32.shl (local.get $c) (i32.const 2)))
    (local.set $inv (f32.div (f32.const 1) (f32.convert_i32_u (local.get $c))))
    (local.set $blockG (local.get $blockSums))
    (local.set $blockB (i32.add (local.get $blockG) (local.get $rowBytes)))
    (block $rdone (loop $rloop
      (br_if $rdone (i32.ge_u (local.get $r) (local.get $rows)))
      (if (i32.eqz (local.get $inBlock)) (then
        (drop (call $zero (local.get $blockG) (i32.shl (local.get $c) (i32.const 1))))))
      (local.set $m (f32x4.splat (f32.load (local.get $stats))))
      (local.set $rs (f32x4.splat (f32.load offset=4 (local.get $stats))))
      (local.set $s1 (v128.const i32x4 0 0 0 0))
      (local.set $s2 (v128.const i32x4 0 0 0 0))
      (local.set $k (i32.const 0))
      (block $d1 (loop $l1
        (br_if $d1 (i32.ge_u (local.get $k) (local.get $rowBytes)))
        (local.set $xh (f32x4.mul (f32x4.sub (v128.load (i32.add (local.get $x) (local.get $k))) (local.get $m)) (local.get $rs)))
        (local.set $dyv (v128.load (i32.add (local.get $dy) (local.get $k))))
        (local.set $g (f32x4.mul (local.get $dyv) (v128.load (i32.add (local.get $gamma) (local.get $k)))))
        (local.set $s1 (f32x4.add (local.get $s1) (local.get $g)))
        (local.set $s2 (f32x4.add (local.get $s2) (f32x4.mul (local.get $g) (local.get $xh))))
        (v128.store (i32.add (local.get $blockG) (local.get $k))
          (f32x4.add (v128.load (i32.add (local.get $blockG) (local.get $k))) (f32x4.mul (local.get $dyv) (local.get $xh))))
        (v128.store (i32.add (local.get $blockB) (local.get $k))
          (f32x4.add (v128.load (i32.add (local.get $blockB) (local.get $k))) (local.get $dyv)))
        (local.set $k (i32.add (local.get $k) (i32.const 16)))
        (br $l1)))
      (local.set $a (f32x4.splat (f32.mul (call $hsum4 (local.get $s1)) (local.get $inv))))
      (local.set $b (f32x4.splat (f32.mul (call $hsum4 (local.get $s2)) (local.get $inv))))
      (local.set $k (i32.const 0))
      (block $d2 (loop $l2
        (br_if $d2 (i32.ge_u (local.get $k) (local.get $rowBytes)))
        (local.set $xh (f32x4.mul (f32x4.sub (v128.load (i32.add (local.get $x) (local.get $k))) (local.get $m)) (local.get $rs)))
        (local.set $g (f32x4.mul (v128.load (i32.add (local.get $dy) (local.get $k))) (v128.load (i32.add (local.get $gamma) (local.get $k)))))
        (v128.store (i32.add (local.get $dx) (local.get $k))
          (f32x4.mul (f32x4.sub (f32x4.sub (local.get $g) (local.get $a)) (f32x4.mul (local.get $xh) (local.get $b))) (local.get $rs)))
        (local.set $k (i32.add (local.get $k) (i32.const 16)))
        (br $l2)))
      (local.set $inBlock (i32.add (local.get $inBlock) (i32.const 1)))
      (if (i32.eq (local.get $inBlock) (i32.const ${LN_BLOCK_ROWS})) (then
        (local.set $blockG (i32.add (local.get $blockG) (i32.shl (local.get $rowBytes) (i32.const 1))))
        (local.set $blockB (i32.add (local.get $blockB) (i32.shl (local.get $rowBytes) (i32.const 1))))
        (local.set $inBlock (i32.const 0))))
      (local.set $x (i32.add (local.get $x) (local.get $rowBytes)))
      (local.set $dy (i32.add (local.get $dy) (local.get $rowBytes)))
      (local.set $dx (i32.add (local.get $dx) (local.get $rowBytes)))
      (local.set $stats (i32.add (local.get $stats) (i32.const 8)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rloop))))

  ;; dγ and dβ from per-part float32 shares (a LayerNorm gradient's row blocks, a GRN gradient's
  ;; images): part i's 2·c floats at shares + i·stride bytes (c of dγ, then c of dβ) added to
  ;; float64 totals in part order, then rounded to float32. totals: 2·c float64 (16·c bytes).
  (func (export "sumShares") (param $shares i32) (param $dgamma i32) (param $dbeta i32)
        (param $totals i32) (param $parts i32) (param $c i32) (param $stride i32)
    (local $i i32) (local $twoC i32)
    (local.set $twoC (i32.shl (local.get $c) (i32.const 1)))
    (drop (call $zero (local.get $totals) (i32.shl (local.get $c) (i32.const 2))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $parts)))
      (call $addSums (local.get $shares) (local.get $totals) (local.get $twoC))
      (local.set $shares (i32.add (local.get $shares) (local.get $stride)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (call $demoteSums (local.get $totals) (local.get $dgamma) (local.get $c))
    (call $demoteSums (i32.add (local.get $totals) (i32.shl (local.get $c) (i32.const 3))) (local.get $dbeta) (local.get $c)))

  ;; GRN (ConvNeXt V2) over batch images of hw positions × c channels (c a multiple of 4):
  ;; g = √(Σ_hw x² + normEps) per channel, d = mean_c g + eps, y = x·(γ·g/d + 1) + β. Writes g
  ;; (norms, batch × c) and d (denom, batch) for the backward; scratch: c floats per image (each
  ;; image its own, so intra-op threads can run different images of one call).
  (func (export "grnForward") (param $x i32) (param $gamma i32) (param $beta i32) (param $y i32)
        (param $norms i32) (param $denom i32) (param $scratch i32) (param $batch i32) (param $hw i32) (param $c i32)
        (param $normEps f32) (param $eps f32)
    (local $b i32) (local $p i32) (local $q i32) (local $k i32) (local $end i32) (local $rowBytes i32)
    (local $sum f32) (local $v v128) (local $dv v128)
    (local.set $rowBytes (i32.shl (local.get $c) (i32.const 2)))
    (block $bdone (loop $bloop
      (br_if $bdone (i32.ge_u (local.get $b) (local.get $batch)))
      (local.set $end (i32.add (local.get $x) (i32.mul (local.get $hw) (local.get $rowBytes))))
      (drop (call $zero (local.get $norms) (local.get $c)))
      (local.set $p (local.get $x))
      (block $d1 (loop $l1
        (br_if $d1 (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $k (i32.const 0))
        (block $cd (loop $cl
          (br_if $cd (i32.ge_u (local.get $k) (local.get $rowBytes)))
          (local.set $v (v128.load (i32.add (local.get $p) (local.get $k))))
          (v128.store (i32.add (local.get $norms) (local.get $k))
            (f32x4.add (v128.load (i32.add (local.get $norms) (local.get $k))) (f32x4.mul (local.get $v) (local.get $v))))
          (local.set $k (i32.add (local.get $k) (i32.const 16)))
          (br $cl)))
        (local.set $p (i32.add (local.get $p) (local.get $rowBytes)))
        (br $l1)))
      (local.set $sum (f32.const 0))
      (local.set $k (i32.const 0))
      (block $d2 (loop $l2
        (br_if $d2 (i32.ge_u (local.get $k) (local.get $rowBytes)))
        (local.set $v (f32x4.sqrt (f32x4.add (v128.load (i32.add (local.get $norms) (local.get $k)))
          (f32x4.splat (local.get $normEps)))))
        (v128.store (i32.add (local.get $norms) (local.get $k)) (local.get $v))
        (local.set $sum (f32.add (local.get $sum) (call $hsum4 (local.get $v))))
        (local.set $k (i32.add (local.get $k) (i32.const 16)))
        (br $l2)))
      (f32.store (local.get $denom)
        (f32.add (f32.div (local.get $sum) (f32.convert_i32_u (local.get $c))) (local.get $eps)))
      (local.set $dv (f32x4.splat (f32.load (local.get $denom))))
      (local.set $k (i32.const 0))
      (block $d3 (loop $l3
        (br_if $d3 (i32.ge_u (local.get $k) (local.get $rowBytes)))
        (v128.store (i32.add (local.get $scratch) (local.get $k))
          (f32x4.add (v128.const f32x4 1 1 1 1)
            (f32x4.mul (v128.load (i32.add (local.get $gamma) (local.get $k)))
              (f32x4.div (v128.load (i32.add (local.get $norms) (local.get $k))) (local.get $dv)))))
        (local.set $k (i32.add (local.get $k) (i32.const 16)))
        (br $l3)))
      (local.set $p (local.get $x))
      (local.set $q (local.get $y))
      (block $d4 (loop $l4
        (br_if $d4 (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $k (i32.const 0))
        (block $cd (loop $cl
          (br_if $cd (i32.ge_u (local.get $k) (local.get $rowBytes)))
          (v128.store (i32.add (local.get $q) (local.get $k))
            (f32x4.add
              (f32x4.mul (v128.load (i32.add (local.get $p) (local.get $k))) (v128.load (i32.add (local.get $scratch) (local.get $k))))
              (v128.load (i32.add (local.get $beta) (local.get $k)))))
          (local.set $k (i32.add (local.get $k) (i32.const 16)))
          (br $cl)))
        (local.set $p (i32.add (local.get $p) (local.get $rowBytes)))
        (local.set $q (i32.add (local.get $q) (local.get $rowBytes)))
        (br $l4)))
      (local.set $x (local.get $end))
      (local.set $y (local.get $q))
      (local.set $norms (i32.add (local.get $norms) (local.get $rowBytes)))
      (local.set $scratch (i32.add (local.get $scratch) (local.get $rowBytes)))
      (local.set $denom (i32.add (local.get $denom) (i32.const 4)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $bloop))))

  ;; GRN's backward from x, dy, γ and the forward's g and d, in two calls. grnBackwardImages, per
  ;; image, with s = Σ_hw dy·x and t = Σ_hw dy per channel: dx = dy·(γ·g/d + 1) + x·(s·γ/d −
  ;; mean_c(s·γ·g)/d²)/g, and it leaves image b's shares of dγ and dβ, s·(g/d) and t, in its scratch
  ;; (4·c floats per image: s, t and the two per-channel coefficients of dx). Images are
  ;; independent, so intra-op threads can split a call by images. sumShares then adds the shares
  ;; over the images in order, in float64 (the same additions in the same order as when one loop
  ;; did both).
  (func (export "grnBackwardImages") (param $x i32) (param $dy i32) (param $gamma i32) (param $norms i32)
        (param $denom i32) (param $dx i32) (param $scratch i32)
        (param $batch i32) (param $hw i32) (param $c i32)
    (local $b i32) (local $p i32) (local $q i32) (local $o i32) (local $k i32) (local $end i32)
    (local $rowBytes i32) (local $s i32) (local $t i32) (local $ca i32) (local $ck i32)
    (local $d f32) (local $w v128) (local $dv v128) (local $mv v128) (local $acc v128) (local $gm v128)
    (local.set $rowBytes (i32.shl (local.get $c) (i32.const 2)))
    (local.set $s (local.get $scratch))
    (block $bdone (loop $bloop
      (br_if $bdone (i32.ge_u (local.get $b) (local.get $batch)))
      (local.set $t (i32.add (local.get $s) (local.get $rowBytes)))
      (local.set $ca (i32.add (local.get $t) (local.get $rowBytes)))
      (local.set $ck (i32.add (local.get $ca) (local.get $rowBytes)))
      (local.set $end (i32.add (local.get $x) (i32.mul (local.get $hw) (local.get $rowBytes))))
      (drop (call $zero (local.get $s) (i32.shl (local.get $c) (i32.const 1))))
      (local.set $p (local.get $x))
      (local.set $q (local.get $dy))
      (block $d1 (loop $l1
        (br_if $d1 (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $k (i32.const 0))
        (block $cd (loop $cl
          (br_if $cd (i32.ge_u (local.get $k) (local.get $rowBytes)))
          (local.set $w (v128.load (i32.add (local.get $q) (local.get $k))))
          (v128.store (i32.add (local.get $s) (local.get $k))
            (f32x4.add (v128.load (i32.add (local.get $s) (local.get $k)))
              (f32x4.mul (local.get $w) (v128.load (i32.add (local.get $p) (local.get $k))))))
          (v128.store (i32.add (local.get $t) (local.get $k))
            (f32x4.add (v128.load (i32.add (local.get $t) (local.get $k))) (local.get $w)))
          (local.set $k (i32.add (local.get $k) (i32.const 16)))
          (br $cl)))
        (local.set $p (i32.add (local.get $p) (local.get $rowBytes)))
        (local.set $q (i32.add (local.get $q) (local.get $rowBytes)))
        (br $l1)))
      (local.set $d (f32.load (local.get $denom)))
      (local.set $dv (f32x4.splat (local.get $d)))
      (local.set $acc (v128.const i32x4 0 0 0 0))
      (local.set $k (i32.const 0))
      (block $d2 (loop $l2
        (br_if $d2 (i32.ge_u (local.get $k) (local.get $rowBytes)))
        (local.set $acc (f32x4.add (local.get $acc)
          (f32x4.mul (f32x4.mul (v128.load (i32.add (local.get $s) (local.get $k))) (v128.load (i32.add (local.get $gamma) (local.get $k))))
            (v128.load (i32.add (local.get $norms) (local.get $k))))))
        (local.set $k (i32.add (local.get $k) (i32.const 16)))
        (br $l2)))
      (local.set $mv (f32x4.splat (f32.div (f32.div (f32.div (call $hsum4 (local.get $acc))
        (f32.convert_i32_u (local.get $c))) (local.get $d)) (local.get $d))))
      ;; The coefficients of dx, then s replaced by this image's share of dγ, s·(g/d).
      (local.set $k (i32.const 0))
      (block $d3 (loop $l3
        (br_if $d3 (i32.ge_u (local.get $k) (local.get $rowBytes)))
        (local.set $gm (v128.load (i32.add (local.get $gamma) (local.get $k))))
        (local.set $w (v128.load (i32.add (local.get $norms) (local.get $k))))
        (v128.store (i32.add (local.get $ca) (local.get $k))
          (f32x4.add (v128.const f32x4 1 1 1 1) (f32x4.mul (local.get $gm) (f32x4.div (local.get $w) (local.get $dv)))))
        (v128.store (i32.add (local.get $ck) (local.get $k))
          (f32x4.div
            (f32x4.sub (f32x4.div (f32x4.mul (v128.load (i32.add (local.get $s) (local.get $k))) (local.get $gm)) (local.get $dv))
              (local.get $mv))
            (local.get $w)))
        (v128.store (i32.add (local.get $s) (local.get $k))
          (f32x4.mul (v128.load (i32.add (local.get $s) (local.get $k))) (f32x4.div (local.get $w) (local.get $dv))))
        (local.set $k (i32.add (local.get $k) (i32.const 16)))
        (br $l3)))
      (local.set $p (local.get $x))
      (local.set $q (local.get $dy))
      (local.set $o (local.get $dx))
      (block $d5 (loop $l5
        (br_if $d5 (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $k (i32.const 0))
        (block $cd (loop $cl
          (br_if $cd (i32.ge_u (local.get $k) (local.get $rowBytes)))
          (v128.store (i32.add (local.get $o) (local.get $k))
            (f32x4.add
              (f32x4.mul (v128.load (i32.add (local.get $q) (local.get $k))) (v128.load (i32.add (local.get $ca) (local.get $k))))
              (f32x4.mul (v128.load (i32.add (local.get $p) (local.get $k))) (v128.load (i32.add (local.get $ck) (local.get $k))))))
          (local.set $k (i32.add (local.get $k) (i32.const 16)))
          (br $cl)))
        (local.set $p (i32.add (local.get $p) (local.get $rowBytes)))
        (local.set $q (i32.add (local.get $q) (local.get $rowBytes)))
        (local.set $o (i32.add (local.get $o) (local.get $rowBytes)))
        (br $l5)))
      (local.set $x (local.get $end))
      (local.set $dy (local.get $q))
      (local.set $dx (local.get $o))
      (local.set $norms (i32.add (local.get $norms) (local.get $rowBytes)))
      (local.set $denom (i32.add (local.get $denom) (i32.const 4)))
      (local.set $s (i32.add (local.get $s) (i32.shl (local.get $rowBytes) (i32.const 2))))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $bloop))))
`;
