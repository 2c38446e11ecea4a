/**
 * WebAssembly text (module fields) of the optimiser's update, so that AdamW runs on the moments
 * and weights where they lie in the wasm heap instead of copying every weight out to JS and back
 * (issue #19: the JS AdamW was ≈ 12 ms of a step for pHCC-SSL's 880 K weights, half of it those
 * copies, and it is serial work in a two-core step).
 *
 * The arithmetic is the JS AdamW's (training/optimizer.ts), operation for operation in float64:
 * wasm never contracts a multiply and an add, f64x2 lanes round as scalar f64 does, and sqrt and
 * the f32 stores round to nearest as Math.sqrt and a Float32Array store do, so both give the same
 * bits (tested). Like the JS, the moments' new values are used unrounded in the weight's update
 * and stored as f32.
 */

/**
 * f64 hyper-parameters at `hyper`, in this order (the kernel writes them, `adamwUpdate` reads them):
 * gradient scale (the clip), β1, β2, 1 − β1, 1 − β2, step size (lr / (1 − β1^t)), the root's
 * correction (1 / √(1 − β2^t)), ε, and the decay factor (1 − lr·λ, or 1).
 */
export const ADAMW_HYPER = [
  'scale',
  'beta1',
  'beta2',
  'oneMinusBeta1',
  'oneMinusBeta2',
  'stepSize',
  'rootCorrection',
  'epsilon',
  'keep',
] as const;

/** One element of AdamW in float64 (f64x2 for the vector loop, f64 for the tail), text for both. */
function adamwElement(t: 'f64x2' | 'f64'): string {
  const v = t === 'f64x2';
  const load = (p: string) =>
    v ? `(f64x2.promote_low_f32x4 (v128.load64_zero ${p}))` : `(f64.promote_f32 (f32.load ${p}))`;
  const store = (p: string, x: string) =>
    v
      ? `(v128.store64_lane 0 ${p} (f32x4.demote_f64x2_zero ${x}))`
      : `(f32.store ${p} (f32.demote_f64 ${x}))`;
  const at = (base: string) => `(i32.add (local.get ${base}) (local.get $i))`;
  // The hyper-parameters (splatted for the vector loop) and the element's g, m and v.
  const h = (name: string) => `(local.get $${v ? 'v' : 's'}${name})`;
  const [g, m, vv] = ['g', 'mi', 'vi'].map((name) => `$${v ? 'v' : 's'}_${name}`);
  return `
      (local.set ${g} (${t}.mul ${load(at('$gp'))} ${h('scale')}))
      (local.set ${m} (${t}.add (${t}.mul ${h('beta1')} ${load(at('$m'))}) (${t}.mul ${h('b1')} (local.get ${g}))))
      (local.set ${vv} (${t}.add (${t}.mul ${h('beta2')} ${load(at('$v'))})
        (${t}.mul (${t}.mul ${h('b2')} (local.get ${g})) (local.get ${g}))))
      ${store(at('$m'), `(local.get ${m})`)}
      ${store(at('$v'), `(local.get ${vv})`)}
      ${store(
        at('$out'),
        `(${t}.sub (${t}.mul ${h('keep')} ${load(at('$w'))})
          (${t}.div (${t}.mul ${h('step')} (local.get ${m}))
            (${t}.add (${t}.mul (${t}.sqrt (local.get ${vv})) ${h('rc')}) ${h('eps')})))`,
      )}`;
}

export const OPTIMIZER_FIELDS = String.raw`

  ;; AdamW on count floats: w (the weights before the step) → out, the moments m and v updated in
  ;; place, g the gradient (before the clip's scale); hyper points to ADAMW_HYPER's f64 values.
  ;; The element order does not matter (each is independent), so intra-op threads split it.
  (func (export "adamwUpdate") (param $w i32) (param $gp i32) (param $m i32) (param $v i32)
    (param $out i32) (param $count i32) (param $hyper i32)
    (local $i i32) (local $pairs i32) (local $end i32)
    (local $sscale f64) (local $sbeta1 f64) (local $sbeta2 f64) (local $sb1 f64) (local $sb2 f64)
    (local $sstep f64) (local $src f64) (local $seps f64) (local $skeep f64)
    (local $vscale v128) (local $vbeta1 v128) (local $vbeta2 v128) (local $vb1 v128) (local $vb2 v128)
    (local $vstep v128) (local $vrc v128) (local $veps v128) (local $vkeep v128)
    (local $v_g v128) (local $v_mi v128) (local $v_vi v128)
    (local $s_g f64) (local $s_mi f64) (local $s_vi f64)
    (local.set $sscale (f64.load offset=0 (local.get $hyper)))
    (local.set $sbeta1 (f64.load offset=8 (local.get $hyper)))
    (local.set $sbeta2 (f64.load offset=16 (local.get $hyper)))
    (local.set $sb1 (f64.load offset=24 (local.get $hyper)))
    (local.set $sb2 (f64.load offset=32 (local.get $hyper)))
    (local.set $sstep (f64.load offset=40 (local.get $hyper)))
    (local.set $src (f64.load offset=48 (local.get $hyper)))
    (local.set $seps (f64.load offset=56 (local.get $hyper)))
    (local.set $skeep (f64.load offset=64 (local.get $hyper)))
    (local.set $vscale (f64x2.splat (local.get $sscale)))
    (local.set $vbeta1 (f64x2.splat (local.get $sbeta1)))
    (local.set $vbeta2 (f64x2.splat (local.get $sbeta2)))
    (local.set $vb1 (f64x2.splat (local.get $sb1)))
    (local.set $vb2 (f64x2.splat (local.get $sb2)))
    (local.set $vstep (f64x2.splat (local.get $sstep)))
    (local.set $vrc (f64x2.splat (local.get $src)))
    (local.set $veps (f64x2.splat (local.get $seps)))
    (local.set $vkeep (f64x2.splat (local.get $skeep)))
    ;; $i is a byte offset: pairs of floats (8 bytes) first, then the odd one.
    (local.set $pairs (i32.shl (i32.shr_u (local.get $count) (i32.const 1)) (i32.const 3)))
    (local.set $end (i32.shl (local.get $count) (i32.const 2)))
    (block $vdone (loop $vl
      (br_if $vdone (i32.ge_u (local.get $i) (local.get $pairs)))
      ${adamwElement('f64x2')}
      (local.set $i (i32.add (local.get $i) (i32.const 8)))
      (br $vl)))
    (block $sdone (loop $sl
      (br_if $sdone (i32.ge_u (local.get $i) (local.get $end)))
      ${adamwElement('f64')}
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $sl))))

  ;; acc + Σ x[i]² over count floats, each square and sum in float64 and in order (one running
  ;; sum, as the JS gradient norm adds them), so chaining calls over the parameters in the JS
  ;; order gives the JS sum's bits.
  (func (export "sumSquares") (param $x i32) (param $count i32) (param $acc f64) (result f64)
    (local $end i32) (local $e f64)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $count) (i32.const 2))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
      (local.set $e (f64.promote_f32 (f32.load (local.get $x))))
      (local.set $acc (f64.add (local.get $acc) (f64.mul (local.get $e) (local.get $e))))
      (local.set $x (i32.add (local.get $x) (i32.const 4)))
      (br $l)))
    (local.get $acc))
`;
