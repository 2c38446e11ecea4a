/**
 * WebAssembly text of the data-movement helpers that the replacement kernels need between
 * XNNPACK calls (im2col, layout changes, strided copies, column sums). Written in JS they cost
 * 3–7 ns per float, as much as the matmul they feed; as wasm SIMD on the backend's own memory
 * they cost 0.3–1.5 ns. All pointers are byte offsets into the tfjs-wasm heap; all data f32.
 * Compiled at run time by wabt (helpers.ts), so no generated binary lives in the repository.
 */
export const HELPERS_WAT = String.raw`
(module
  (import "env" "memory" (memory 0))

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

  ;; [pixels, channels] -> [channels, pixels], in blocks of 64 pixels so the block stays in L1.
  (func (export "toChannelMajor") (param $src i32) (param $dst i32) (param $pixels i32) (param $channels i32)
    (local $p0 i32) (local $pn i32) (local $c i32) (local $p i32) (local $s i32) (local $d i32) (local $rowBytes i32)
    (local.set $rowBytes (i32.shl (local.get $channels) (i32.const 2)))
    (block $done (loop $blocks
      (br_if $done (i32.ge_u (local.get $p0) (local.get $pixels)))
      (local.set $pn (i32.sub (local.get $pixels) (local.get $p0)))
      (if (i32.gt_u (local.get $pn) (i32.const 64)) (then (local.set $pn (i32.const 64))))
      (local.set $c (i32.const 0))
      (block $cdone (loop $chans
        (br_if $cdone (i32.ge_u (local.get $c) (local.get $channels)))
        (local.set $s (i32.add (local.get $src)
          (i32.shl (i32.add (i32.mul (local.get $p0) (local.get $channels)) (local.get $c)) (i32.const 2))))
        (local.set $d (i32.add (local.get $dst)
          (i32.shl (i32.add (i32.mul (local.get $c) (local.get $pixels)) (local.get $p0)) (i32.const 2))))
        (local.set $p (i32.const 0))
        (block $pdone (loop $pix
          (br_if $pdone (i32.ge_u (local.get $p) (local.get $pn)))
          (f32.store (local.get $d) (f32.load (local.get $s)))
          (local.set $d (i32.add (local.get $d) (i32.const 4)))
          (local.set $s (i32.add (local.get $s) (local.get $rowBytes)))
          (local.set $p (i32.add (local.get $p) (i32.const 1)))
          (br $pix)))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $chans)))
      (local.set $p0 (i32.add (local.get $p0) (i32.const 64)))
      (br $blocks))))

  ;; Transposed im2col of images b0 .. b0+nb-1: dst[(i*kw + j)*cin + c][(b*ho + y)*wo + x] =
  ;; x[b, y*sh + i - padT, x*sw + j - padL, c] (0 outside the image), read from the channel-major
  ;; copy xT[c][b][h][w]. Each destination row is then a run of strided copies of image rows.
  (func (export "im2colT") (param $xT i32) (param $dst i32) (param $n i32) (param $b0 i32) (param $nb i32)
        (param $h i32) (param $w i32) (param $cin i32) (param $ho i32) (param $wo i32)
        (param $kh i32) (param $kw i32) (param $sh i32) (param $sw i32) (param $padT i32) (param $padL i32)
    (local $i i32) (local $j i32) (local $c i32) (local $b i32) (local $y i32) (local $yy i32)
    (local $xlo i32) (local $xhi i32) (local $d i32) (local $t i32) (local $row i32)
    (local.set $d (local.get $dst))
    (block $idone (loop $iloop
      (br_if $idone (i32.ge_s (local.get $i) (local.get $kh)))
      (local.set $j (i32.const 0))
      (block $jdone (loop $jloop
        (br_if $jdone (i32.ge_s (local.get $j) (local.get $kw)))
        ;; Output columns whose input column is inside the image: [xlo, xhi).
        (local.set $t (i32.sub (local.get $padL) (local.get $j)))
        (local.set $xlo (i32.const 0))
        (if (i32.gt_s (local.get $t) (i32.const 0)) (then
          (local.set $xlo (i32.div_s (i32.sub (i32.add (local.get $t) (local.get $sw)) (i32.const 1)) (local.get $sw)))))
        (if (i32.gt_s (local.get $xlo) (local.get $wo)) (then (local.set $xlo (local.get $wo))))
        (local.set $t (i32.sub (i32.add (i32.sub (local.get $w) (i32.const 1)) (local.get $padL)) (local.get $j)))
        (local.set $xhi (i32.const 0))
        (if (i32.ge_s (local.get $t) (i32.const 0)) (then
          (local.set $xhi (i32.add (i32.div_s (local.get $t) (local.get $sw)) (i32.const 1)))))
        (if (i32.gt_s (local.get $xhi) (local.get $wo)) (then (local.set $xhi (local.get $wo))))
        (if (i32.lt_s (local.get $xhi) (local.get $xlo)) (then (local.set $xhi (local.get $xlo))))
        (local.set $c (i32.const 0))
        (block $cdone (loop $cloop
          (br_if $cdone (i32.ge_s (local.get $c) (local.get $cin)))
          (local.set $b (local.get $b0))
          (block $bdone (loop $bloop
            (br_if $bdone (i32.ge_s (local.get $b) (i32.add (local.get $b0) (local.get $nb))))
            (local.set $y (i32.const 0))
            (block $ydone (loop $yloop
              (br_if $ydone (i32.ge_s (local.get $y) (local.get $ho)))
              (local.set $yy (i32.sub (i32.add (i32.mul (local.get $y) (local.get $sh)) (local.get $i)) (local.get $padT)))
              (if (i32.or (i32.lt_s (local.get $yy) (i32.const 0)) (i32.ge_s (local.get $yy) (local.get $h)))
                (then (local.set $d (call $zero (local.get $d) (local.get $wo))))
                (else
                  ;; element index of x[b, yy, xlo*sw + j - padL, c] in xT
                  (local.set $row (i32.add
                    (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $c) (local.get $n)) (local.get $b)) (local.get $h)) (local.get $yy)) (local.get $w))
                    (i32.sub (i32.add (i32.mul (local.get $xlo) (local.get $sw)) (local.get $j)) (local.get $padL))))
                  (local.set $d (call $zero (local.get $d) (local.get $xlo)))
                  (local.set $d (call $copy (local.get $d)
                    (i32.add (local.get $xT) (i32.shl (local.get $row) (i32.const 2)))
                    (i32.sub (local.get $xhi) (local.get $xlo)) (local.get $sw)))
                  (local.set $d (call $zero (local.get $d) (i32.sub (local.get $wo) (local.get $xhi))))))
              (local.set $y (i32.add (local.get $y) (i32.const 1)))
              (br $yloop)))
            (local.set $b (i32.add (local.get $b) (i32.const 1)))
            (br $bloop)))
          (local.set $c (i32.add (local.get $c) (i32.const 1)))
          (br $cloop)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $jloop)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $iloop))))

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
)
`;
