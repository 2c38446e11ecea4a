/**
 * WebAssembly text (module fields) of a register-blocked f32 GEMM for the conv filter gradient,
 * with the packing it needs. XNNPACK (inside tfjs-wasm) is built for baseline wasm SIMD, which has no fused
 * multiply-add, so it cannot pass ≈ 8 flops per cycle; with relaxed SIMD's `f32x4.relaxed_madd`
 * (an FMA on x86 and Arm) a 4×8 tile does 64 flops per 6 loads. `fma: false` builds the same
 * kernel with a separate multiply and add, for engines without relaxed SIMD.
 *
 * Layouts (f32, byte pointers into the tfjs-wasm heap):
 *   Ap [G][K][4]  four rows of A interleaved per k (G = M/4 row groups)
 *   Bp [P][K][8]  eight columns of B per k (P = ⌈N/8⌉ panels, zero-padded)
 *   C  [4G][8P]   row-major, accumulated into (callers zero it)
 */
export function gemmFields(fma: boolean): string {
  const madd = (a: string, b: string, c: string) =>
    fma ? `(f32x4.relaxed_madd ${a} ${b} ${c})` : `(f32x4.add (f32x4.mul ${a} ${b}) ${c})`;
  // The depthwise filter gradient's pixel loop over one output row: 16 channels (wide) or 4 per
  // pass, every pixel or (kept) those whose keep value is nonzero.
  const filterGradPixels = (wide: boolean, kept: boolean) => {
    const terms = (wide ? [0, 1, 2, 3] : [0])
      .map((r) => {
        const at = r === 0 ? '' : ` offset=${16 * r}`;
        return `(local.set $a${r} ${madd(`(v128.load${at} (local.get $xp))`, `(v128.load${at} (local.get $dp))`, `(local.get $a${r})`)})`;
      })
      .join('\n');
    return `(block $xdone (loop $xloop
      (br_if $xdone (i32.ge_s (local.get $xo) (local.get $x1)))
      ${kept ? `(if (f32.ne (f32.load (local.get $kp)) (f32.const 0)) (then ${terms}))` : terms}
      (local.set $xp (i32.add (local.get $xp) (local.get $cBytes)))
      (local.set $dp (i32.add (local.get $dp) (local.get $cBytes)))
      ${kept ? '(local.set $kp (i32.add (local.get $kp) (i32.const 4)))' : ''}
      (local.set $xo (i32.add (local.get $xo) (i32.const 1)))
      (br $xloop)))`;
  };
  const accs = [0, 1, 2, 3].flatMap((r) => [`$c${r}0`, `$c${r}1`]);
  const rowLoads = [0, 1, 2, 3]
    .map(
      (r) =>
        `(local.set $c${r}0 (v128.load (local.get $cr${r})))
         (local.set $c${r}1 (v128.load offset=16 (local.get $cr${r})))`,
    )
    .join('\n');
  const rowStores = [0, 1, 2, 3]
    .map(
      (r) =>
        `(v128.store (local.get $cr${r}) (local.get $c${r}0))
         (v128.store offset=16 (local.get $cr${r}) (local.get $c${r}1))`,
    )
    .join('\n');
  const step = [0, 1, 2, 3]
    .map(
      (r) =>
        `(local.set $a (v128.load32_splat offset=${4 * r} (local.get $pa)))
         (local.set $c${r}0 ${madd('(local.get $a)', '(local.get $b0)', `(local.get $c${r}0)`)})
         (local.set $c${r}1 ${madd('(local.get $a)', '(local.get $b1)', `(local.get $c${r}1)`)})`,
    )
    .join('\n');
  // gemmRows: A read in place, row-major, four row pointers; the first k-chunk starts the
  // accumulators at zero (C need not be cleared), later chunks add to what C holds.
  const rowStep = [0, 1, 2, 3]
    .map(
      (r) =>
        `(local.set $a (v128.load32_splat (local.get $pa${r})))
         (local.set $c${r}0 ${madd('(local.get $a)', '(local.get $b0)', `(local.get $c${r}0)`)})
         (local.set $c${r}1 ${madd('(local.get $a)', '(local.get $b1)', `(local.get $c${r}1)`)})`,
    )
    .join('\n');
  const zeroAccs = accs.map((a) => `(local.set ${a} (v128.const i32x4 0 0 0 0))`).join('\n');
  // Both GEMMs walk k-chunks, then 4-row groups (setting the four C row pointers), then
  // 8-column panels; only how a tile reads A and starts its accumulators differs.
  const blockLoopsOpen = `(local.set $rowBytes (i32.shl (local.get $panels) (i32.const 5)))
    (block $kdone (loop $kloop
      (br_if $kdone (i32.ge_u (local.get $k0) (local.get $k)))
      (local.set $kn (i32.sub (local.get $k) (local.get $k0)))
      (if (i32.gt_u (local.get $kn) (local.get $kc)) (then (local.set $kn (local.get $kc))))
      (local.set $g (i32.const 0))
      (block $gdone (loop $gloop
        (br_if $gdone (i32.ge_u (local.get $g) (local.get $groups)))
        (local.set $cr0 (i32.add (local.get $c) (i32.mul (i32.shl (local.get $g) (i32.const 2)) (local.get $rowBytes))))
        ${[1, 2, 3].map((r) => `(local.set $cr${r} (i32.add (local.get $cr${r - 1}) (local.get $rowBytes)))`).join('\n')}`;
  const blockLoopsClose = `${rowStores}
          ${[0, 1, 2, 3].map((r) => `(local.set $cr${r} (i32.add (local.get $cr${r}) (i32.const 32)))`).join('\n')}
          (local.set $p (i32.add (local.get $p) (i32.const 1)))
          (br $ploop)))
        (local.set $g (i32.add (local.get $g) (i32.const 1)))
        (br $gloop)))
      (local.set $k0 (i32.add (local.get $k0) (local.get $kc)))
      (br $kloop)))`;
  // gemmRows: C = A · Bp with A row-major in place ([4G][K], rows $lda bytes apart): the plain
  // matmul (a 1×1 layer) needs no packed copy of its large operand, and C no clearing pass.
  // gemmRowsAdd: C += A · Bp, the same loop starting every tile from C (a patchify conv's later
  // filter rows, conv-patchify.ts).
  // gemmRowsBias: C = A · Bp + bias (bias [8P], one value per column), the bias added to each
  // tile in registers after its last k-chunk: the same f32 additions, in the same order, as an
  // Add kernel after the product, without its pass over C (a dense layer's forward).
  const biasAccs = [0, 1, 2, 3]
    .map(
      (r) =>
        `(local.set $c${r}0 (f32x4.add (local.get $c${r}0) (v128.load (local.get $pbias))))
         (local.set $c${r}1 (f32x4.add (local.get $c${r}1) (v128.load offset=16 (local.get $pbias))))`,
    )
    .join('\n');
  const biasEpilogue = `(if (i32.ge_u (i32.add (local.get $k0) (local.get $kn)) (local.get $k)) (then
            (local.set $pbias (i32.add (local.get $bias) (i32.shl (local.get $p) (i32.const 5))))
            ${biasAccs}))`;
  const rowsFunction = (name: string, firstChunk: string, bias = false) => String.raw`
  (func (export "${name}") (param $arows i32) (param $lda i32) (param $bp i32) (param $c i32)
        (param $groups i32) (param $panels i32) (param $k i32) (param $kc i32)${bias ? ' (param $bias i32) (local $pbias i32)' : ''}
    (local $k0 i32) (local $kn i32) (local $g i32) (local $p i32)
    (local $pa0 i32) (local $pa1 i32) (local $pa2 i32) (local $pa3 i32) (local $row i32)
    (local $pb i32) (local $end i32) (local $rowBytes i32)
    (local $cr0 i32) (local $cr1 i32) (local $cr2 i32) (local $cr3 i32)
    (local $a v128) (local $b0 v128) (local $b1 v128)
    ${accs.map((a) => `(local ${a} v128)`).join(' ')}
    ${blockLoopsOpen}
        ;; this group's first row, at column k0
        (local.set $row (i32.add (i32.add (local.get $arows)
          (i32.mul (i32.shl (local.get $g) (i32.const 2)) (local.get $lda)))
          (i32.shl (local.get $k0) (i32.const 2))))
        (local.set $p (i32.const 0))
        (block $pdone (loop $ploop
          (br_if $pdone (i32.ge_u (local.get $p) (local.get $panels)))
          ${firstChunk}
          (local.set $pa0 (local.get $row))
          (local.set $pa1 (i32.add (local.get $pa0) (local.get $lda)))
          (local.set $pa2 (i32.add (local.get $pa1) (local.get $lda)))
          (local.set $pa3 (i32.add (local.get $pa2) (local.get $lda)))
          (local.set $pb (i32.add (local.get $bp)
            (i32.shl (i32.add (i32.mul (local.get $p) (local.get $k)) (local.get $k0)) (i32.const 5))))
          (local.set $end (i32.add (local.get $pa0) (i32.shl (local.get $kn) (i32.const 2))))
          (block $done (loop $inner
            (br_if $done (i32.ge_u (local.get $pa0) (local.get $end)))
            (local.set $b0 (v128.load (local.get $pb)))
            (local.set $b1 (v128.load offset=16 (local.get $pb)))
            ${rowStep}
            (local.set $pa0 (i32.add (local.get $pa0) (i32.const 4)))
            (local.set $pa1 (i32.add (local.get $pa1) (i32.const 4)))
            (local.set $pa2 (i32.add (local.get $pa2) (i32.const 4)))
            (local.set $pa3 (i32.add (local.get $pa3) (i32.const 4)))
            (local.set $pb (i32.add (local.get $pb) (i32.const 32)))
            (br $inner)))
          ${bias ? biasEpilogue : ''}
          ${blockLoopsClose})`;
  // The register tile's locals, and the loops down to one panel of one row group (`gemm`, `gemmTransA`).
  const tileLocals = `(local $cr0 i32) (local $cr1 i32) (local $cr2 i32) (local $cr3 i32)
    (local $a v128) (local $b0 v128) (local $b1 v128)
    ${accs.map((a) => `(local ${a} v128)`).join(' ')}`;
  const panelLoopOpen = `${blockLoopsOpen}
        (local.set $p (i32.const 0))
        (block $pdone (loop $ploop
          (br_if $pdone (i32.ge_u (local.get $p) (local.get $panels)))`;
  const firstChunkZero = `(if (i32.eqz (local.get $k0)) (then ${zeroAccs}) (else ${rowLoads}))`;
  // gemmTransA: C = Aᵀ · B with both read where they lie, row by row: A [K][4G] and B [K][8P]
  // row-major (rows $lda and $ldb bytes apart), so a k step's four A values and eight B values
  // are 16 and 32 contiguous bytes of one row of each. A dense layer's weight gradient xᵀ · dy
  // then needs no packed copy of either long operand (packing both was ≈ a third of its time).
  // A k step is the packed GEMM's (`step`: four A values splatted from $pa, eight B values).
  const transAGemm = String.raw`
  (func (export "gemmTransA") (param $arows i32) (param $lda i32) (param $brows i32) (param $ldb i32)
        (param $c i32) (param $groups i32) (param $panels i32) (param $k i32) (param $kc i32)
    (local $k0 i32) (local $kn i32) (local $g i32) (local $p i32)
    (local $pa i32) (local $pb i32) (local $n i32) (local $rowBytes i32)
    ${tileLocals}
    ${panelLoopOpen}
          ${firstChunkZero}
          ;; row k0 of A at this group's four columns, of B at this panel's eight
          (local.set $pa (i32.add (i32.add (local.get $arows) (i32.mul (local.get $k0) (local.get $lda)))
            (i32.shl (local.get $g) (i32.const 4))))
          (local.set $pb (i32.add (i32.add (local.get $brows) (i32.mul (local.get $k0) (local.get $ldb)))
            (i32.shl (local.get $p) (i32.const 5))))
          (local.set $n (local.get $kn))
          (block $done (loop $inner
            (br_if $done (i32.eqz (local.get $n)))
            (local.set $b0 (v128.load (local.get $pb)))
            (local.set $b1 (v128.load offset=16 (local.get $pb)))
            ${step}
            (local.set $pa (i32.add (local.get $pa) (local.get $lda)))
            (local.set $pb (i32.add (local.get $pb) (local.get $ldb)))
            (local.set $n (i32.sub (local.get $n) (i32.const 1)))
            (br $inner)))
          ${blockLoopsClose})`;
  const rowsGemm =
    rowsFunction('gemmRows', firstChunkZero) +
    rowsFunction('gemmRowsAdd', rowLoads) +
    rowsFunction('gemmRowsBias', firstChunkZero, true);
  return String.raw`
  ;; C += Ap · Bp, blocked over k in chunks of kc so a row group's Ap chunk stays in L1 while
  ;; it meets every panel's Bp chunk (which stays in L2).
  (func (export "gemm") (param $ap i32) (param $bp i32) (param $c i32)
        (param $groups i32) (param $panels i32) (param $k i32) (param $kc i32)
    (local $k0 i32) (local $kn i32) (local $g i32) (local $p i32) (local $n i32)
    (local $pa i32) (local $pb i32) (local $end i32) (local $rowBytes i32)
    ${tileLocals}
    ${panelLoopOpen}
          ${rowLoads}
          (local.set $pa (i32.add (local.get $ap)
            (i32.shl (i32.add (i32.mul (local.get $g) (local.get $k)) (local.get $k0)) (i32.const 4))))
          (local.set $pb (i32.add (local.get $bp)
            (i32.shl (i32.add (i32.mul (local.get $p) (local.get $k)) (local.get $k0)) (i32.const 5))))
          (local.set $end (i32.add (local.get $pa) (i32.shl (local.get $kn) (i32.const 4))))
          (block $done (loop $inner
            (br_if $done (i32.ge_u (local.get $pa) (local.get $end)))
            (local.set $b0 (v128.load (local.get $pb)))
            (local.set $b1 (v128.load offset=16 (local.get $pb)))
            ${step}
            (local.set $pa (i32.add (local.get $pa) (i32.const 16)))
            (local.set $pb (i32.add (local.get $pb) (i32.const 32)))
            (br $inner)))
          ${blockLoopsClose})

${rowsGemm}
${transAGemm}
  ;; Ap for the filter gradient: the transposed im2col of NHWC x (images b0 .. b0+nb-1), four
  ;; channels at a time: Ap[((i*kw + j)*cin4 + c/4)][(b*ho + y)*wo + x][c%4] =
  ;; x[b, y*sh + i - padT, x*sw + j - padL, c], 0 outside the image and for c >= cin
  ;; (cin4 = ceil(cin/4)). Each output pixel reads one contiguous run of cin floats and writes
  ;; one 16-byte group into each of the cin4 destination streams.
  (func $zeroGroups (param $d i32) (param $count i32) (param $kBytes i32)
    (local $q i32)
    (block $done (loop $z
      (br_if $done (i32.ge_u (local.get $q) (local.get $count)))
      (v128.store (local.get $d) (v128.const i32x4 0 0 0 0))
      (local.set $d (i32.add (local.get $d) (local.get $kBytes)))
      (local.set $q (i32.add (local.get $q) (i32.const 1)))
      (br $z))))
  (func (export "packIm2col4") (param $x i32) (param $dst i32) (param $b0 i32) (param $nb i32)
        (param $h i32) (param $w i32) (param $cin i32) (param $ho i32) (param $wo i32)
        (param $kh i32) (param $kw i32) (param $sh i32) (param $sw i32) (param $padT i32) (param $padL i32)
    (call $packIm2col4Part (local.get $x) (local.get $dst) (local.get $b0) (local.get $nb) (local.get $h)
      (local.get $w) (local.get $cin) (local.get $ho) (local.get $wo) (local.get $kh) (local.get $kw)
      (local.get $sh) (local.get $sw) (local.get $padT) (local.get $padL) (local.get $nb)))
  ;; Images [b0, b0 + nb) of a pack whose K spans kImages images (dst already points at the first
  ;; of them): intra-op threads each pack a range of images into the one shared Ap.
  (func $packIm2col4Part (export "packIm2col4Part") (param $x i32) (param $dst i32) (param $b0 i32) (param $nb i32)
        (param $h i32) (param $w i32) (param $cin i32) (param $ho i32) (param $wo i32)
        (param $kh i32) (param $kw i32) (param $sh i32) (param $sw i32) (param $padT i32) (param $padL i32)
        (param $kImages i32)
    (local $i i32) (local $j i32) (local $b i32) (local $y i32) (local $yy i32) (local $xo i32) (local $t i32)
    (local $xlo i32) (local $xhi i32) (local $cin4 i32) (local $full i32) (local $kBytes i32) (local $rowBase i32)
    (local $d i32) (local $s i32) (local $src i32) (local $step i32) (local $q i32) (local $lane i32)
    (local.set $cin4 (i32.shr_u (i32.add (local.get $cin) (i32.const 3)) (i32.const 2)))
    (local.set $full (i32.shr_u (local.get $cin) (i32.const 2)))
    ;; bytes between consecutive groups for one k: K = kImages*ho*wo entries of 16 bytes
    (local.set $kBytes (i32.shl (i32.mul (i32.mul (local.get $kImages) (local.get $ho)) (local.get $wo)) (i32.const 4)))
    (local.set $step (i32.shl (i32.mul (local.get $sw) (local.get $cin)) (i32.const 2)))
    (block $idone (loop $iloop
      (br_if $idone (i32.ge_s (local.get $i) (local.get $kh)))
      (local.set $j (i32.const 0))
      (block $jdone (loop $jloop
        (br_if $jdone (i32.ge_s (local.get $j) (local.get $kw)))
        ;; output columns whose input column is inside the image: [xlo, xhi)
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
        ;; group (i, j, 0), k = 0
        (local.set $rowBase (i32.add (local.get $dst)
          (i32.mul (i32.mul (i32.add (i32.mul (local.get $i) (local.get $kw)) (local.get $j)) (local.get $cin4)) (local.get $kBytes))))
        (local.set $b (local.get $b0))
        (block $bdone (loop $bloop
          (br_if $bdone (i32.ge_s (local.get $b) (i32.add (local.get $b0) (local.get $nb))))
          (local.set $y (i32.const 0))
          (block $ydone (loop $yloop
            (br_if $ydone (i32.ge_s (local.get $y) (local.get $ho)))
            (local.set $yy (i32.sub (i32.add (i32.mul (local.get $y) (local.get $sh)) (local.get $i)) (local.get $padT)))
            (local.set $xo (i32.const 0))
            (if (i32.or (i32.lt_s (local.get $yy) (i32.const 0)) (i32.ge_s (local.get $yy) (local.get $h)))
              (then
                (block $zdone (loop $z
                  (br_if $zdone (i32.ge_s (local.get $xo) (local.get $wo)))
                  (call $zeroGroups (local.get $rowBase) (local.get $cin4) (local.get $kBytes))
                  (local.set $rowBase (i32.add (local.get $rowBase) (i32.const 16)))
                  (local.set $xo (i32.add (local.get $xo) (i32.const 1)))
                  (br $z))))
              (else
                (block $zdone (loop $z
                  (br_if $zdone (i32.ge_s (local.get $xo) (local.get $xlo)))
                  (call $zeroGroups (local.get $rowBase) (local.get $cin4) (local.get $kBytes))
                  (local.set $rowBase (i32.add (local.get $rowBase) (i32.const 16)))
                  (local.set $xo (i32.add (local.get $xo) (i32.const 1)))
                  (br $z)))
                ;; byte address of x[b, yy, xlo*sw + j - padL, 0]
                (local.set $src (i32.add (local.get $x) (i32.shl
                  (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $h)) (local.get $yy)) (local.get $w))
                                    (i32.sub (i32.add (i32.mul (local.get $xlo) (local.get $sw)) (local.get $j)) (local.get $padL)))
                           (local.get $cin))
                  (i32.const 2))))
                (block $cpdone (loop $cp
                  (br_if $cpdone (i32.ge_s (local.get $xo) (local.get $xhi)))
                  (local.set $d (local.get $rowBase))
                  (local.set $s (local.get $src))
                  (local.set $q (i32.const 0))
                  (block $cdone (loop $c
                    (br_if $cdone (i32.ge_u (local.get $q) (local.get $full)))
                    (v128.store (local.get $d) (v128.load (local.get $s)))
                    (local.set $d (i32.add (local.get $d) (local.get $kBytes)))
                    (local.set $s (i32.add (local.get $s) (i32.const 16)))
                    (local.set $q (i32.add (local.get $q) (i32.const 1)))
                    (br $c)))
                  ;; a last, partial group: the channels that exist, then zeros (never reads past
                  ;; this pixel's channels)
                  (if (i32.lt_u (local.get $full) (local.get $cin4)) (then
                    (v128.store (local.get $d) (v128.const i32x4 0 0 0 0))
                    (local.set $lane (i32.const 0))
                    (block $ldone (loop $l
                      (br_if $ldone (i32.ge_u (i32.add (i32.shl (local.get $full) (i32.const 2)) (local.get $lane)) (local.get $cin)))
                      (f32.store (i32.add (local.get $d) (i32.shl (local.get $lane) (i32.const 2)))
                        (f32.load (i32.add (local.get $s) (i32.shl (local.get $lane) (i32.const 2)))))
                      (local.set $lane (i32.add (local.get $lane) (i32.const 1)))
                      (br $l)))))
                  (local.set $src (i32.add (local.get $src) (local.get $step)))
                  (local.set $rowBase (i32.add (local.get $rowBase) (i32.const 16)))
                  (local.set $xo (i32.add (local.get $xo) (i32.const 1)))
                  (br $cp)))
                (block $zdone (loop $z
                  (br_if $zdone (i32.ge_s (local.get $xo) (local.get $wo)))
                  (call $zeroGroups (local.get $rowBase) (local.get $cin4) (local.get $kBytes))
                  (local.set $rowBase (i32.add (local.get $rowBase) (i32.const 16)))
                  (local.set $xo (i32.add (local.get $xo) (i32.const 1)))
                  (br $z)))))
            (local.set $y (i32.add (local.get $y) (i32.const 1)))
            (br $yloop)))
          (local.set $b (i32.add (local.get $b) (i32.const 1)))
          (br $bloop)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $jloop)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $iloop))))

  ;; [outer][rows][n] from [outer][rowsPad][stride]: drops the padding rows and columns a
  ;; GEMM result carries (C rows padded to groups of 4, columns to panels of 8).
  (func (export "extractRows") (param $src i32) (param $dst i32) (param $taps i32) (param $cinPad i32)
        (param $cin i32) (param $stride i32) (param $n i32)
    (local $t i32) (local $c i32) (local $i i32) (local $s i32) (local $d i32)
    (local.set $d (local.get $dst))
    (block $tdone (loop $tloop
      (br_if $tdone (i32.ge_u (local.get $t) (local.get $taps)))
      (local.set $c (i32.const 0))
      (block $cdone (loop $cloop
        (br_if $cdone (i32.ge_u (local.get $c) (local.get $cin)))
        (local.set $s (i32.add (local.get $src) (i32.shl
          (i32.mul (i32.add (i32.mul (local.get $t) (local.get $cinPad)) (local.get $c)) (local.get $stride)) (i32.const 2))))
        (local.set $i (i32.const 0))
        (block $idone (loop $iloop
          (br_if $idone (i32.ge_u (local.get $i) (local.get $n)))
          (f32.store (local.get $d) (f32.load (local.get $s)))
          (local.set $d (i32.add (local.get $d) (i32.const 4)))
          (local.set $s (i32.add (local.get $s) (i32.const 4)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $iloop)))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $cloop)))
      (local.set $t (i32.add (local.get $t) (i32.const 1)))
      (br $tloop))))


  ;; Ap for a forward conv: the im2col of NHWC x, four consecutive output pixels per group:
  ;; Ap[g][(i*kw + j)*cin + c][l] = x[b, y*sh + i - padT, x*sw + j - padL, c] for output pixel
  ;; p0 + 4g + l = (b*ho + y)*wo + x; 0 outside the image and past pixel p0 + count. Four pixels'
  ;; channel runs are read 4 channels at a time and transposed in registers. zeros: >= cin
  ;; zero floats, read in place of pixels outside the image.
  (func (export "packConvRows4") (param $x i32) (param $zeros i32) (param $dst i32) (param $p0 i32) (param $count i32)
        (param $h i32) (param $w i32) (param $cin i32) (param $ho i32) (param $wo i32)
        (param $kh i32) (param $kw i32) (param $sh i32) (param $sw i32) (param $padT i32) (param $padL i32)
    (local $pix i32) (local $end i32) (local $t i32) (local $i i32) (local $j i32) (local $yy i32) (local $xx i32)
    (local $q i32) (local $full i32) (local $d i32) (local $u0 v128) (local $u1 v128) (local $u2 v128) (local $u3 v128)
    (local $b0 i32) (local $y0 i32) (local $x0 i32) (local $ok0 i32) (local $ptr0 i32) (local $v0 v128) (local $b1 i32) (local $y1 i32) (local $x1 i32) (local $ok1 i32) (local $ptr1 i32) (local $v1 v128) (local $b2 i32) (local $y2 i32) (local $x2 i32) (local $ok2 i32) (local $ptr2 i32) (local $v2 v128) (local $b3 i32) (local $y3 i32) (local $x3 i32) (local $ok3 i32) (local $ptr3 i32) (local $v3 v128)
    (local.set $full (i32.shr_u (local.get $cin) (i32.const 2)))
    (local.set $end (i32.add (local.get $p0) (local.get $count)))
    (local.set $pix (local.get $p0))
    (local.set $d (local.get $dst))
    (block $gdone (loop $gloop
      (br_if $gdone (i32.ge_u (local.get $pix) (local.get $end)))
          (local.set $t (i32.add (local.get $pix) (i32.const 0)))
          (local.set $ok0 (i32.lt_u (local.get $t) (local.get $end)))
          (local.set $x0 (i32.rem_u (local.get $t) (local.get $wo)))
          (local.set $t (i32.div_u (local.get $t) (local.get $wo)))
          (local.set $y0 (i32.rem_u (local.get $t) (local.get $ho)))
          (local.set $b0 (i32.div_u (local.get $t) (local.get $ho)))
          (local.set $t (i32.add (local.get $pix) (i32.const 1)))
          (local.set $ok1 (i32.lt_u (local.get $t) (local.get $end)))
          (local.set $x1 (i32.rem_u (local.get $t) (local.get $wo)))
          (local.set $t (i32.div_u (local.get $t) (local.get $wo)))
          (local.set $y1 (i32.rem_u (local.get $t) (local.get $ho)))
          (local.set $b1 (i32.div_u (local.get $t) (local.get $ho)))
          (local.set $t (i32.add (local.get $pix) (i32.const 2)))
          (local.set $ok2 (i32.lt_u (local.get $t) (local.get $end)))
          (local.set $x2 (i32.rem_u (local.get $t) (local.get $wo)))
          (local.set $t (i32.div_u (local.get $t) (local.get $wo)))
          (local.set $y2 (i32.rem_u (local.get $t) (local.get $ho)))
          (local.set $b2 (i32.div_u (local.get $t) (local.get $ho)))
          (local.set $t (i32.add (local.get $pix) (i32.const 3)))
          (local.set $ok3 (i32.lt_u (local.get $t) (local.get $end)))
          (local.set $x3 (i32.rem_u (local.get $t) (local.get $wo)))
          (local.set $t (i32.div_u (local.get $t) (local.get $wo)))
          (local.set $y3 (i32.rem_u (local.get $t) (local.get $ho)))
          (local.set $b3 (i32.div_u (local.get $t) (local.get $ho)))
      (local.set $i (i32.const 0))
      (block $idone (loop $iloop
        (br_if $idone (i32.ge_s (local.get $i) (local.get $kh)))
        (local.set $j (i32.const 0))
        (block $jdone (loop $jloop
          (br_if $jdone (i32.ge_s (local.get $j) (local.get $kw)))
              (local.set $yy (i32.sub (i32.add (i32.mul (local.get $y0) (local.get $sh)) (local.get $i)) (local.get $padT)))
              (local.set $xx (i32.sub (i32.add (i32.mul (local.get $x0) (local.get $sw)) (local.get $j)) (local.get $padL)))
              (local.set $ptr0 (local.get $zeros))
              (if (i32.and (local.get $ok0) (i32.and
                    (i32.and (i32.ge_s (local.get $yy) (i32.const 0)) (i32.lt_s (local.get $yy) (local.get $h)))
                    (i32.and (i32.ge_s (local.get $xx) (i32.const 0)) (i32.lt_s (local.get $xx) (local.get $w)))))
                (then (local.set $ptr0 (i32.add (local.get $x) (i32.shl
                  (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $b0) (local.get $h)) (local.get $yy)) (local.get $w)) (local.get $xx)) (local.get $cin))
                  (i32.const 2))))))
              (local.set $yy (i32.sub (i32.add (i32.mul (local.get $y1) (local.get $sh)) (local.get $i)) (local.get $padT)))
              (local.set $xx (i32.sub (i32.add (i32.mul (local.get $x1) (local.get $sw)) (local.get $j)) (local.get $padL)))
              (local.set $ptr1 (local.get $zeros))
              (if (i32.and (local.get $ok1) (i32.and
                    (i32.and (i32.ge_s (local.get $yy) (i32.const 0)) (i32.lt_s (local.get $yy) (local.get $h)))
                    (i32.and (i32.ge_s (local.get $xx) (i32.const 0)) (i32.lt_s (local.get $xx) (local.get $w)))))
                (then (local.set $ptr1 (i32.add (local.get $x) (i32.shl
                  (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $b1) (local.get $h)) (local.get $yy)) (local.get $w)) (local.get $xx)) (local.get $cin))
                  (i32.const 2))))))
              (local.set $yy (i32.sub (i32.add (i32.mul (local.get $y2) (local.get $sh)) (local.get $i)) (local.get $padT)))
              (local.set $xx (i32.sub (i32.add (i32.mul (local.get $x2) (local.get $sw)) (local.get $j)) (local.get $padL)))
              (local.set $ptr2 (local.get $zeros))
              (if (i32.and (local.get $ok2) (i32.and
                    (i32.and (i32.ge_s (local.get $yy) (i32.const 0)) (i32.lt_s (local.get $yy) (local.get $h)))
                    (i32.and (i32.ge_s (local.get $xx) (i32.const 0)) (i32.lt_s (local.get $xx) (local.get $w)))))
                (then (local.set $ptr2 (i32.add (local.get $x) (i32.shl
                  (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $b2) (local.get $h)) (local.get $yy)) (local.get $w)) (local.get $xx)) (local.get $cin))
                  (i32.const 2))))))
              (local.set $yy (i32.sub (i32.add (i32.mul (local.get $y3) (local.get $sh)) (local.get $i)) (local.get $padT)))
              (local.set $xx (i32.sub (i32.add (i32.mul (local.get $x3) (local.get $sw)) (local.get $j)) (local.get $padL)))
              (local.set $ptr3 (local.get $zeros))
              (if (i32.and (local.get $ok3) (i32.and
                    (i32.and (i32.ge_s (local.get $yy) (i32.const 0)) (i32.lt_s (local.get $yy) (local.get $h)))
                    (i32.and (i32.ge_s (local.get $xx) (i32.const 0)) (i32.lt_s (local.get $xx) (local.get $w)))))
                (then (local.set $ptr3 (i32.add (local.get $x) (i32.shl
                  (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $b3) (local.get $h)) (local.get $yy)) (local.get $w)) (local.get $xx)) (local.get $cin))
                  (i32.const 2))))))
          (local.set $q (i32.const 0))
          (block $cdone (loop $c
            (br_if $cdone (i32.ge_u (local.get $q) (local.get $full)))
            (local.set $v0 (v128.load (local.get $ptr0)))
(local.set $v1 (v128.load (local.get $ptr1)))
(local.set $v2 (v128.load (local.get $ptr2)))
(local.set $v3 (v128.load (local.get $ptr3)))
            ;; 4×4 transpose: v_l = pixel l's channels c..c+3 -> row m = channel c+m of 4 pixels
            (local.set $u0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $v0) (local.get $v1)))
            (local.set $u1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $v0) (local.get $v1)))
            (local.set $u2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $v2) (local.get $v3)))
            (local.set $u3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $v2) (local.get $v3)))
            (v128.store (local.get $d) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $u0) (local.get $u2)))
            (v128.store offset=16 (local.get $d) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $u0) (local.get $u2)))
            (v128.store offset=32 (local.get $d) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $u1) (local.get $u3)))
            (v128.store offset=48 (local.get $d) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $u1) (local.get $u3)))
            (local.set $d (i32.add (local.get $d) (i32.const 64)))
            (local.set $ptr0 (i32.add (local.get $ptr0) (i32.const 16)))
(local.set $ptr1 (i32.add (local.get $ptr1) (i32.const 16)))
(local.set $ptr2 (i32.add (local.get $ptr2) (i32.const 16)))
(local.set $ptr3 (i32.add (local.get $ptr3) (i32.const 16)))
            (local.set $q (i32.add (local.get $q) (i32.const 1)))
            (br $c)))
          ;; channels past the last full group of 4, one k-row (4 pixels) each
          (local.set $q (i32.shl (local.get $full) (i32.const 2)))
          (block $sdone (loop $s
            (br_if $sdone (i32.ge_u (local.get $q) (local.get $cin)))
            (f32.store offset=0 (local.get $d) (f32.load (local.get $ptr0)))
(f32.store offset=4 (local.get $d) (f32.load (local.get $ptr1)))
(f32.store offset=8 (local.get $d) (f32.load (local.get $ptr2)))
(f32.store offset=12 (local.get $d) (f32.load (local.get $ptr3)))
            (local.set $d (i32.add (local.get $d) (i32.const 16)))
            (local.set $ptr0 (i32.add (local.get $ptr0) (i32.const 4)))
(local.set $ptr1 (i32.add (local.get $ptr1) (i32.const 4)))
(local.set $ptr2 (i32.add (local.get $ptr2) (i32.const 4)))
(local.set $ptr3 (i32.add (local.get $ptr3) (i32.const 4)))
            (local.set $q (i32.add (local.get $q) (i32.const 1)))
            (br $s)))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $jloop)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $iloop)))
      (local.set $pix (i32.add (local.get $pix) (i32.const 4)))
      (br $gloop))))

  ;; Forward stride-1, multiplier-1 depthwise conv, channels vectorised (c % 4 == 0):
  ;; out[b, y, x, c] = sum over valid i, j of x[b, y+i-padT, x+j-padL, c] * w[i][j][c].
  ;; Accumulators live in registers (the first version loaded and stored the output vector at
  ;; every tap: 3 loads + 1 store per 4 multiply-adds). Where four adjacent output pixels of a
  ;; row see every column tap inside the image, they are done together: one filter load and one
  ;; new x load per tap feed four multiply-adds (x slides through four registers). Border pixels
  ;; go one at a time over their in-image taps; rows outside the image are skipped for both.
  (func (export "depthwiseForward") (param $x i32) (param $filter i32) (param $out i32)
        (param $n i32) (param $h i32) (param $w i32) (param $c i32) (param $ho i32) (param $wo i32)
        (param $kh i32) (param $kw i32) (param $padT i32) (param $padL i32)
    (call $depthwiseForwardKept (local.get $x) (local.get $filter) (local.get $out) (i32.const 0) (i32.const 0) (i32.const 0)
      (local.get $n) (local.get $h) (local.get $w) (local.get $c) (local.get $ho) (local.get $wo)
      (local.get $kh) (local.get $kw) (local.get $padT) (local.get $padL)))
  ;; The same conv at the output pixels a keep map (one f32 per output pixel, nonzero = kept)
  ;; keeps. mode 0: every pixel (keep unused); 1: kept pixels only, written one after another
  ;; (the gathered rows of the output), image b's from row starts[b] (f32 values) of out;
  ;; 2: kept pixels in place and zeros at the others. A kept pixel's sum is the one mode 0
  ;; computes, in the same order (the masked SSL encoder's depthwise conv computes only the rows
  ;; its block keeps, issue #19).
  (func $depthwiseForwardKept (export "depthwiseForwardKept") (param $x i32) (param $filter i32) (param $out i32)
        (param $keep i32) (param $starts i32) (param $mode i32)
        (param $n i32) (param $h i32) (param $w i32) (param $c i32) (param $ho i32) (param $wo i32)
        (param $kh i32) (param $kw i32) (param $padT i32) (param $padL i32)
    (local $kp i32) (local $four i32) (local $dropped i32)
    (local $b i32) (local $y i32) (local $xo i32) (local $i i32) (local $i0 i32) (local $i1 i32)
    (local $j i32) (local $j0 i32) (local $j1 i32) (local $v i32) (local $cBytes i32)
    (local $op i32) (local $xp i32) (local $wp i32) (local $t i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128) (local $wv v128)
    (local.set $cBytes (i32.shl (local.get $c) (i32.const 2)))
    (local.set $op (local.get $out))
    (block $bdone (loop $bloop
      (br_if $bdone (i32.ge_u (local.get $b) (local.get $n)))
      (if (i32.eq (local.get $mode) (i32.const 1)) (then
        (local.set $op (i32.add (local.get $out) (i32.mul (local.get $cBytes)
          (i32.trunc_f32_u (f32.load (i32.add (local.get $starts) (i32.shl (local.get $b) (i32.const 2))))))))))
      (local.set $y (i32.const 0))
      (block $ydone (loop $yloop
        (br_if $ydone (i32.ge_u (local.get $y) (local.get $ho)))
        ;; filter rows inside the image: i0 = max(0, padT - y), i1 = min(kh, h + padT - y)
        (local.set $i0 (i32.sub (local.get $padT) (local.get $y)))
        (if (i32.lt_s (local.get $i0) (i32.const 0)) (then (local.set $i0 (i32.const 0))))
        (local.set $i1 (i32.sub (i32.add (local.get $h) (local.get $padT)) (local.get $y)))
        (if (i32.gt_s (local.get $i1) (local.get $kh)) (then (local.set $i1 (local.get $kh))))
        (local.set $xo (i32.const 0))
        ;; keep value of pixel (b, y, xo)
        (local.set $kp (i32.add (local.get $keep)
          (i32.shl (i32.mul (i32.add (i32.mul (local.get $b) (local.get $ho)) (local.get $y)) (local.get $wo)) (i32.const 2))))
        (block $xdone (loop $xloop
          (br_if $xdone (i32.ge_u (local.get $xo) (local.get $wo)))
          (local.set $four (i32.and
                (i32.and (i32.ge_u (local.get $xo) (local.get $padL))
                         (i32.le_u (i32.add (local.get $xo) (i32.const 4)) (local.get $wo)))
                (i32.le_u (i32.add (i32.add (local.get $xo) (i32.const 3)) (local.get $kw))
                          (i32.add (local.get $w) (local.get $padL)))))
          (local.set $dropped (i32.const 0))
          (if (local.get $mode) (then
            (if (local.get $four) (then
              (local.set $four (i32.and
                (i32.and (f32.ne (f32.load (local.get $kp)) (f32.const 0))
                         (f32.ne (f32.load offset=4 (local.get $kp)) (f32.const 0)))
                (i32.and (f32.ne (f32.load offset=8 (local.get $kp)) (f32.const 0))
                         (f32.ne (f32.load offset=12 (local.get $kp)) (f32.const 0)))))))
            (local.set $dropped (f32.eq (f32.load (local.get $kp)) (f32.const 0)))))
          (if (local.get $four)
            (then
              ;; four pixels xo..xo+3, every column tap inside the image
              (local.set $v (i32.const 0))
              (block $vdone (loop $vloop
                (br_if $vdone (i32.ge_u (local.get $v) (local.get $cBytes)))
                (local.set $a0 (v128.const i32x4 0 0 0 0))
                (local.set $a1 (v128.const i32x4 0 0 0 0))
                (local.set $a2 (v128.const i32x4 0 0 0 0))
                (local.set $a3 (v128.const i32x4 0 0 0 0))
                (local.set $i (local.get $i0))
                (block $idone (loop $iloop
                  (br_if $idone (i32.ge_s (local.get $i) (local.get $i1)))
                  (local.set $xp (i32.add (i32.add (local.get $x) (local.get $v)) (i32.mul
                    (i32.sub (i32.add (i32.mul (i32.sub (i32.add (i32.add (i32.mul (local.get $b) (local.get $h)) (local.get $y)) (local.get $i)) (local.get $padT)) (local.get $w)) (local.get $xo)) (local.get $padL))
                    (local.get $cBytes))))
                  (local.set $wp (i32.add (i32.add (local.get $filter) (local.get $v))
                    (i32.mul (i32.mul (local.get $i) (local.get $kw)) (local.get $cBytes))))
                  (local.set $x0 (v128.load (local.get $xp)))
                  (local.set $xp (i32.add (local.get $xp) (local.get $cBytes)))
                  (local.set $x1 (v128.load (local.get $xp)))
                  (local.set $xp (i32.add (local.get $xp) (local.get $cBytes)))
                  (local.set $x2 (v128.load (local.get $xp)))
                  (local.set $xp (i32.add (local.get $xp) (local.get $cBytes)))
                  (local.set $j (i32.const 0))
                  (block $jdone (loop $jloop
                    (br_if $jdone (i32.ge_u (local.get $j) (local.get $kw)))
                    (local.set $x3 (v128.load (local.get $xp)))
                    (local.set $wv (v128.load (local.get $wp)))
                    (local.set $a0 ${madd('(local.get $x0)', '(local.get $wv)', '(local.get $a0)')})
                    (local.set $a1 ${madd('(local.get $x1)', '(local.get $wv)', '(local.get $a1)')})
                    (local.set $a2 ${madd('(local.get $x2)', '(local.get $wv)', '(local.get $a2)')})
                    (local.set $a3 ${madd('(local.get $x3)', '(local.get $wv)', '(local.get $a3)')})
                    (local.set $x0 (local.get $x1))
                    (local.set $x1 (local.get $x2))
                    (local.set $x2 (local.get $x3))
                    (local.set $xp (i32.add (local.get $xp) (local.get $cBytes)))
                    (local.set $wp (i32.add (local.get $wp) (local.get $cBytes)))
                    (local.set $j (i32.add (local.get $j) (i32.const 1)))
                    (br $jloop)))
                  (local.set $i (i32.add (local.get $i) (i32.const 1)))
                  (br $iloop)))
                (local.set $t (i32.add (local.get $op) (local.get $v)))
                (v128.store (local.get $t) (local.get $a0))
                (local.set $t (i32.add (local.get $t) (local.get $cBytes)))
                (v128.store (local.get $t) (local.get $a1))
                (local.set $t (i32.add (local.get $t) (local.get $cBytes)))
                (v128.store (local.get $t) (local.get $a2))
                (local.set $t (i32.add (local.get $t) (local.get $cBytes)))
                (v128.store (local.get $t) (local.get $a3))
                (local.set $v (i32.add (local.get $v) (i32.const 16)))
                (br $vloop)))
              (local.set $op (i32.add (local.get $op) (i32.shl (local.get $cBytes) (i32.const 2))))
              (local.set $kp (i32.add (local.get $kp) (i32.const 16)))
              (local.set $xo (i32.add (local.get $xo) (i32.const 4))))
            (else (if (local.get $dropped)
            (then
              ;; a dropped pixel: nothing (mode 1) or zeros (mode 2)
              (if (i32.eq (local.get $mode) (i32.const 2)) (then
                (drop (call $zero (local.get $op) (local.get $c)))
                (local.set $op (i32.add (local.get $op) (local.get $cBytes)))))
              (local.set $kp (i32.add (local.get $kp) (i32.const 4)))
              (local.set $xo (i32.add (local.get $xo) (i32.const 1))))
            (else
              ;; one pixel (a border one, or a kept one outside a kept four) over its column taps inside the image:
              ;; j0 = max(0, padL - xo), j1 = min(kw, w + padL - xo)
              (local.set $j0 (i32.sub (local.get $padL) (local.get $xo)))
              (if (i32.lt_s (local.get $j0) (i32.const 0)) (then (local.set $j0 (i32.const 0))))
              (local.set $j1 (i32.sub (i32.add (local.get $w) (local.get $padL)) (local.get $xo)))
              (if (i32.gt_s (local.get $j1) (local.get $kw)) (then (local.set $j1 (local.get $kw))))
              (local.set $v (i32.const 0))
              (block $vdone (loop $vloop
                (br_if $vdone (i32.ge_u (local.get $v) (local.get $cBytes)))
                (local.set $a0 (v128.const i32x4 0 0 0 0))
                (local.set $i (local.get $i0))
                (block $idone (loop $iloop
                  (br_if $idone (i32.ge_s (local.get $i) (local.get $i1)))
                  (local.set $xp (i32.add (i32.add (local.get $x) (local.get $v)) (i32.mul
                    (i32.sub (i32.add (i32.add (i32.mul (i32.sub (i32.add (i32.add (i32.mul (local.get $b) (local.get $h)) (local.get $y)) (local.get $i)) (local.get $padT)) (local.get $w)) (local.get $xo)) (local.get $j0)) (local.get $padL))
                    (local.get $cBytes))))
                  (local.set $wp (i32.add (i32.add (local.get $filter) (local.get $v))
                    (i32.mul (i32.add (i32.mul (local.get $i) (local.get $kw)) (local.get $j0)) (local.get $cBytes))))
                  (local.set $j (local.get $j0))
                  (block $jdone (loop $jloop
                    (br_if $jdone (i32.ge_s (local.get $j) (local.get $j1)))
                    (local.set $a0 ${madd('(v128.load (local.get $xp))', '(v128.load (local.get $wp))', '(local.get $a0)')})
                    (local.set $xp (i32.add (local.get $xp) (local.get $cBytes)))
                    (local.set $wp (i32.add (local.get $wp) (local.get $cBytes)))
                    (local.set $j (i32.add (local.get $j) (i32.const 1)))
                    (br $jloop)))
                  (local.set $i (i32.add (local.get $i) (i32.const 1)))
                  (br $iloop)))
                (v128.store (i32.add (local.get $op) (local.get $v)) (local.get $a0))
                (local.set $v (i32.add (local.get $v) (i32.const 16)))
                (br $vloop)))
              (local.set $op (i32.add (local.get $op) (local.get $cBytes)))
              (local.set $kp (i32.add (local.get $kp) (i32.const 4)))
              (local.set $xo (i32.add (local.get $xo) (i32.const 1)))))))
          (br $xloop)))
        (local.set $y (i32.add (local.get $y) (i32.const 1)))
        (br $yloop)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $bloop))))

  ;; Filter gradient of a stride-1, multiplier-1 depthwise conv, channels vectorised (c % 4 == 0):
  ;; dw[i][j][c] = sum over b, y, x of x[b, y+i-padT, x+j-padL, c] * dy[b, y, x, c]. Tap by tap,
  ;; over the output pixels whose tap lies inside the image (a rectangle: no per-pixel test), the
  ;; sum in registers (the first version loaded and stored dw at every pixel), 16 channels (one
  ;; cache line) at a time when c % 16 == 0, else 4. Each image's sum is added to dw on its own,
  ;; so no single f32 sum runs over more than one image's pixels. dw must be zeroed by the caller.
  (func (export "depthwiseFilterGrad") (param $x i32) (param $dy i32) (param $dw i32)
        (param $n i32) (param $h i32) (param $w i32) (param $c i32) (param $ho i32) (param $wo i32)
        (param $kh i32) (param $kw i32) (param $padT i32) (param $padL i32)
    (call $depthwiseFilterGradKeptChannels (local.get $x) (local.get $dy) (local.get $dw) (i32.const 0) (local.get $n)
      (local.get $h) (local.get $w) (local.get $c) (local.get $ho) (local.get $wo) (local.get $kh)
      (local.get $kw) (local.get $padT) (local.get $padL) (i32.const 0) (local.get $c)))
  ;; Channels [c0, c1) only (multiples of 16 when c % 16 == 0, else of 4): a channel's sum runs
  ;; over the same pixels in the same order whatever the range, so intra-op threads can share it.
  ;; When keep is not 0, over the output pixels a keep map (one f32 per output pixel) keeps: the
  ;; others' dy is zero (a masked block keeps only those rows), so their terms are skipped and
  ;; the sums are those over every pixel.
  (func $depthwiseFilterGradKeptChannels (export "depthwiseFilterGradKeptChannels") (param $x i32) (param $dy i32) (param $dw i32)
        (param $keep i32)
        (param $n i32) (param $h i32) (param $w i32) (param $c i32) (param $ho i32) (param $wo i32)
        (param $kh i32) (param $kw i32) (param $padT i32) (param $padL i32) (param $c0 i32) (param $c1 i32)
    (local $kp i32)
    (local $b i32) (local $i i32) (local $j i32) (local $y i32) (local $xo i32) (local $v i32)
    (local $y0 i32) (local $y1 i32) (local $x0 i32) (local $x1 i32) (local $cBytes i32) (local $vStep i32)
    (local $xp i32) (local $dp i32) (local $t i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local.set $cBytes (i32.shl (local.get $c) (i32.const 2)))
    (local.set $vStep (select (i32.const 64) (i32.const 16) (i32.eqz (i32.and (local.get $c) (i32.const 15)))))
    (block $bdone (loop $bloop
      (br_if $bdone (i32.ge_u (local.get $b) (local.get $n)))
      (local.set $i (i32.const 0))
      (block $idone (loop $iloop
        (br_if $idone (i32.ge_u (local.get $i) (local.get $kh)))
        ;; output rows whose tap row is inside the image: y0 = max(0, padT - i), y1 = min(ho, h + padT - i)
        (local.set $y0 (i32.sub (local.get $padT) (local.get $i)))
        (if (i32.lt_s (local.get $y0) (i32.const 0)) (then (local.set $y0 (i32.const 0))))
        (local.set $y1 (i32.sub (i32.add (local.get $h) (local.get $padT)) (local.get $i)))
        (if (i32.gt_s (local.get $y1) (local.get $ho)) (then (local.set $y1 (local.get $ho))))
        (local.set $j (i32.const 0))
        (block $jdone (loop $jloop
          (br_if $jdone (i32.ge_u (local.get $j) (local.get $kw)))
          (local.set $x0 (i32.sub (local.get $padL) (local.get $j)))
          (if (i32.lt_s (local.get $x0) (i32.const 0)) (then (local.set $x0 (i32.const 0))))
          (local.set $x1 (i32.sub (i32.add (local.get $w) (local.get $padL)) (local.get $j)))
          (if (i32.gt_s (local.get $x1) (local.get $wo)) (then (local.set $x1 (local.get $wo))))
          (local.set $v (i32.shl (local.get $c0) (i32.const 2)))
          (block $vdone (loop $vloop
            (br_if $vdone (i32.ge_u (local.get $v) (i32.shl (local.get $c1) (i32.const 2))))
            (local.set $a0 (v128.const i32x4 0 0 0 0))
            (local.set $a1 (v128.const i32x4 0 0 0 0))
            (local.set $a2 (v128.const i32x4 0 0 0 0))
            (local.set $a3 (v128.const i32x4 0 0 0 0))
            (local.set $y (local.get $y0))
            (block $ydone (loop $yloop
              (br_if $ydone (i32.ge_s (local.get $y) (local.get $y1)))
              (local.set $xp (i32.add (i32.add (local.get $x) (local.get $v)) (i32.mul
                (i32.sub (i32.add (i32.add (i32.mul (i32.sub (i32.add (i32.add (i32.mul (local.get $b) (local.get $h)) (local.get $y)) (local.get $i)) (local.get $padT)) (local.get $w)) (local.get $x0)) (local.get $j)) (local.get $padL))
                (local.get $cBytes))))
              (local.set $dp (i32.add (i32.add (local.get $dy) (local.get $v)) (i32.mul
                (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $ho)) (local.get $y)) (local.get $wo)) (local.get $x0))
                (local.get $cBytes))))
              (local.set $xo (local.get $x0))
              (if (local.get $keep)
                (then
                  (local.set $kp (i32.add (local.get $keep) (i32.shl
                    (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $ho)) (local.get $y)) (local.get $wo)) (local.get $x0))
                    (i32.const 2))))
                  (if (i32.eq (local.get $vStep) (i32.const 64))
                    (then ${filterGradPixels(true, true)})
                    (else ${filterGradPixels(false, true)})))
                (else
                  (if (i32.eq (local.get $vStep) (i32.const 64))
                    (then ${filterGradPixels(true, false)})
                    (else ${filterGradPixels(false, false)}))))
              (local.set $y (i32.add (local.get $y) (i32.const 1)))
              (br $yloop)))
            (local.set $t (i32.add (i32.add (local.get $dw) (local.get $v))
              (i32.mul (i32.add (i32.mul (local.get $i) (local.get $kw)) (local.get $j)) (local.get $cBytes))))
            (v128.store (local.get $t) (f32x4.add (v128.load (local.get $t)) (local.get $a0)))
            (if (i32.eq (local.get $vStep) (i32.const 64))
              (then
                (v128.store offset=16 (local.get $t) (f32x4.add (v128.load offset=16 (local.get $t)) (local.get $a1)))
                (v128.store offset=32 (local.get $t) (f32x4.add (v128.load offset=32 (local.get $t)) (local.get $a2)))
                (v128.store offset=48 (local.get $t) (f32x4.add (v128.load offset=48 (local.get $t)) (local.get $a3)))))
            (local.set $v (i32.add (local.get $v) (local.get $vStep)))
            (br $vloop)))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $jloop)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $iloop)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $bloop))))

  ;; Bp[p][k][0..8) = B[k][8p .. 8p+8) of row-major B [K, N], zero past column N.
  (func (export "packPanels8") (param $src i32) (param $dst i32) (param $k i32) (param $n i32)
    (call $packPanels8Range (local.get $src) (local.get $dst) (local.get $k) (local.get $n) (i32.const 0)
      (i32.shr_u (i32.add (local.get $n) (i32.const 7)) (i32.const 3))))
  ;; Panels [p0, p1) only (panels are independent: intra-op threads take ranges of them).
  (func $packPanels8Range (export "packPanels8Range") (param $src i32) (param $dst i32) (param $k i32) (param $n i32)
        (param $p0 i32) (param $p1 i32)
    (local $p i32) (local $r i32) (local $s i32) (local $d i32) (local $cols i32) (local $q i32)
    (local.set $p (local.get $p0))
    (local.set $d (i32.add (local.get $dst) (i32.mul (local.get $p0) (i32.shl (local.get $k) (i32.const 5)))))
    (block $pdone (loop $ploop
      (br_if $pdone (i32.ge_u (local.get $p) (local.get $p1)))
      (local.set $cols (i32.sub (local.get $n) (i32.shl (local.get $p) (i32.const 3))))
      (local.set $s (i32.add (local.get $src) (i32.shl (local.get $p) (i32.const 5))))
      (local.set $r (i32.const 0))
      (if (i32.ge_u (local.get $cols) (i32.const 8))
        (then
          (block $rdone (loop $rloop
            (br_if $rdone (i32.ge_u (local.get $r) (local.get $k)))
            (v128.store (local.get $d) (v128.load (local.get $s)))
            (v128.store offset=16 (local.get $d) (v128.load offset=16 (local.get $s)))
            (local.set $d (i32.add (local.get $d) (i32.const 32)))
            (local.set $s (i32.add (local.get $s) (i32.shl (local.get $n) (i32.const 2))))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $rloop))))
        (else
          (block $rdone (loop $rloop
            (br_if $rdone (i32.ge_u (local.get $r) (local.get $k)))
            (local.set $q (i32.const 0))
            (block $qdone (loop $qloop
              (br_if $qdone (i32.ge_u (local.get $q) (i32.const 8)))
              (f32.store (i32.add (local.get $d) (i32.shl (local.get $q) (i32.const 2)))
                (if (result f32) (i32.lt_u (local.get $q) (local.get $cols))
                  (then (f32.load (i32.add (local.get $s) (i32.shl (local.get $q) (i32.const 2)))))
                  (else (f32.const 0))))
              (local.set $q (i32.add (local.get $q) (i32.const 1)))
              (br $qloop)))
            (local.set $d (i32.add (local.get $d) (i32.const 32)))
            (local.set $s (i32.add (local.get $s) (i32.shl (local.get $n) (i32.const 2))))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $rloop)))))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $ploop))))
`;
}
