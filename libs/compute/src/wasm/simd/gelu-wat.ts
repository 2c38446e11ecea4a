/**
 * WebAssembly text (module fields) of GELU's forward and gradient, tanh form
 * (gelu(x) = ½x(1 + tanh(c(x + a·x³))), c = √(2/π), a = 0.044715), for kernels/PhccGelu.ts and
 * its siblings. module.ts joins these with the other helpers.
 *
 * The fast pair (`geluForward`, `geluBackward`) uses ½(1 + tanh u) = σ(2u), so the forward is
 * y = x / (1 + e^{−2u}) and the gradient dy·(s + x·s·(1 − s)·2u′) with s = σ(2u): one exp and one
 * division per lane, and no 1 − 2/(e^{2u} + 1), which rounds to 0 for x below ≈ −4.96. Issue #19
 * measured the previous helpers at 4–5.5 ns per element per pass, every call on the SIMD path
 * (the step's 2.6 ns in SSL against 5.9 in fine-tuning was per element *written*: SSL's masked
 * kernels compute 40 % of the rows). Forward, one process, interleaved, 1 M floats, CPU time
 * (gradient in brackets), each step on top of the one before:
 *   previous 4.04 (4.63) → σ form, magic-number rounding 3.52 (4.09) → pmin/pmax 2.78 (3.66)
 *   → relaxed_madd 2.32 (2.78) → body written into the loop 2.06 → 2 vectors an iteration 1.43
 *   → 4 vectors 1.24 → this module 1.04 (1.57) ns per element.
 * - `f32x4.min`/`max` keep wasm's NaN and −0 rules, several instructions each on x86;
 *   `pmin`/`pmax` are one (a NaN x still gives NaN: it is the numerator).
 * - `f32x4.nearest` + `i32x4.trunc_sat_f32x4_s` (saturation fix-ups on x86) are replaced by adding
 *   1.5·2²³, which rounds to an integer in the mantissa's low bits: 2ⁿ is those bits shifted.
 * - V8 (Node 20) did not inline the per-vector calls; the body is written out in the loop, four
 *   vectors per iteration, so four independent exp/division chains overlap.
 * - With `fma`, the polynomial and the reduction use `f32x4.relaxed_madd`.
 * The gradient recomputes σ rather than reading one saved by the forward (not tried: that adds a
 * tensor per GELU, up to 12.6 MB in fine-tuning, and a write and a read per element, against a
 * gradient that now costs the forward's 1.04 ns plus ≈ 0.5). The previous pair stays as `geluForwardTanh` / `geluBackwardTanh`
 * (kernels/gelu-helpers.ts: `PHCC_FAST_GELU=0`), so `bench model` can time both in one process.
 */

const splat = (v: number | string) => `(v128.const f32x4 ${v} ${v} ${v} ${v})`;

/** 2c·a and 2c: v = 2u = x·(2c + 2c·a·x²); v′ = 2c + 3·2c·a·x². */
const TWO_C = 1.5957691216057308;
const TWO_CA = TWO_C * 0.044715;
/** Cephes expf: ln 2 split in two, and the polynomial for (e^r − 1 − r)/r² on |r| ≤ ½ ln 2. */
const LN2_HI = 0.693359375;
const LN2_LO = -2.1219444e-4;
const EXP_POLY = [1.98756915e-4, 1.39819995e-3, 8.33345191e-3, 4.16657959e-2, 1.66666655e-1, 5.00000012e-1];
/** 1.5·2²³: adding it rounds |t| < 2²² to an integer held in the low mantissa bits. */
const ROUND_MAGIC = 12582912;

/** Vectors per loop iteration: independent chains for the out-of-order core (4 measured best of 1, 2, 4). */
const UNROLL = 4;

type Madd = (a: string, b: string, c: string) => string;

/** How one group of four lanes is read and written: a whole vector, or one float (the tail). */
interface Access {
  load(pointer: string, offset: number): string;
  store(pointer: string, offset: number, value: string): string;
}
const VECTOR: Access = {
  load: (p, o) => `(v128.load offset=${o} (local.get ${p}))`,
  store: (p, o, v) => `(v128.store offset=${o} (local.get ${p}) ${v})`,
};
const LANE: Access = {
  load: (p, o) => `(f32x4.splat (f32.load offset=${o} (local.get ${p})))`,
  store: (p, o, v) => `(f32.store offset=${o} (local.get ${p}) (f32x4.extract_lane 0 ${v}))`,
};

/** The locals one group j uses. */
const groupLocals = (j: number) =>
  ['x', 'z', 'k', 'r', 'e', 's'].map((n) => `(local $${n}${j} v128)`).join(' ');

/**
 * Statements that leave e^{−v} in $e{j} for the x in $x{j}: −v clamped to ±87 (2ⁿ stays a
 * normal float), n = round(−v/ln 2) by the magic add, r = −v − n·ln 2, e^r = 1 + r + r²·p(r).
 */
function expMinusV(j: number, madd: Madd): string {
  const get = (n: string) => `(local.get $${n}${j})`;
  let poly = splat(EXP_POLY[0]);
  for (const c of EXP_POLY.slice(1)) poly = madd(poly, get('r'), splat(c));
  const n = `(f32x4.sub ${get('k')} ${splat(ROUND_MAGIC)})`;
  const twoToN = `(i32x4.shl (i32x4.add ${get('k')} (v128.const i32x4 127 127 127 127)) (i32.const 23))`;
  return `
      (local.set $z${j} (f32x4.mul ${get('x')} ${madd(`(f32x4.mul ${get('x')} ${get('x')})`, splat(-TWO_CA), splat(-TWO_C))}))
      (local.set $z${j} (f32x4.pmin ${splat(87)} (f32x4.pmax ${splat(-87)} ${get('z')})))
      (local.set $k${j} ${madd(get('z'), splat(Math.LOG2E), splat(ROUND_MAGIC))})
      (local.set $r${j} ${madd(n, splat(-LN2_HI), get('z'))})
      (local.set $r${j} ${madd(n, splat(-LN2_LO), get('r'))})
      (local.set $e${j} ${madd(poly, `(f32x4.mul ${get('r')} ${get('r')})`, get('r'))})
      (local.set $e${j} ${madd(get('e'), twoToN, twoToN)})`;
}

/** y = x / (1 + e^{−v}) for group j at byte offset 16·j. */
function forwardGroup(j: number, access: Access, madd: Madd): string {
  return `
      (local.set $x${j} ${access.load('$x', 16 * j)})${expMinusV(j, madd)}
      ${access.store('$y', 16 * j, `(f32x4.div (local.get $x${j}) (f32x4.add ${splat(1)} (local.get $e${j})))`)}`;
}

/** dx = dy · (s + x·s·(1 − s)·v′), s = 1 / (1 + e^{−v}), for group j. */
function backwardGroup(j: number, access: Access, madd: Madd): string {
  const get = (n: string) => `(local.get $${n}${j})`;
  const dv = madd(`(f32x4.mul ${get('x')} ${get('x')})`, splat(3 * TWO_CA), splat(TWO_C));
  const slope = `(f32x4.mul (f32x4.mul ${get('x')} ${get('s')}) (f32x4.sub ${splat(1)} ${get('s')}))`;
  return `
      (local.set $x${j} ${access.load('$x', 16 * j)})${expMinusV(j, madd)}
      (local.set $s${j} (f32x4.div ${splat(1)} (f32x4.add ${splat(1)} ${get('e')})))
      ${access.store('$dx', 16 * j, `(f32x4.mul ${access.load('$dy', 16 * j)} ${madd(slope, dv, get('s'))})`)}`;
}

/**
 * A pass over count floats: UNROLL vectors per iteration, then single vectors, then single
 * floats; `pointers` advance together.
 */
function pass(pointers: string[], group: (j: number, access: Access) => string): string {
  const advance = (bytes: number) =>
    pointers.map((p) => `(local.set ${p} (i32.add (local.get ${p}) (i32.const ${bytes})))`).join('\n      ');
  const end = (multiple: number) =>
    `(i32.add (local.get $x) (i32.shl (i32.and (local.get $count) (i32.const ${-multiple})) (i32.const 2)))`;
  const groups = Array.from({ length: UNROLL }, (_, j) => group(j, VECTOR)).join('');
  return `
    (local.set $end4 ${end(4 * UNROLL)})
    (local.set $end1 ${end(4)})
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $count) (i32.const 2))))
    (block $done (loop $loop
      (br_if $done (i32.ge_u (local.get $x) (local.get $end4)))${groups}
      ${advance(16 * UNROLL)}
      (br $loop)))
    (block $done (loop $loop
      (br_if $done (i32.ge_u (local.get $x) (local.get $end1)))${group(0, VECTOR)}
      ${advance(16)}
      (br $loop)))
    (block $done (loop $loop
      (br_if $done (i32.ge_u (local.get $x) (local.get $end)))${group(0, LANE)}
      ${advance(4)}
      (br $loop)))`;
}

export function geluFields(fma: boolean): string {
  const madd: Madd = (a, b, c) =>
    fma ? `(f32x4.relaxed_madd ${a} ${b} ${c})` : `(f32x4.add (f32x4.mul ${a} ${b}) ${c})`;
  const locals =
    '(local $end4 i32) (local $end1 i32) (local $end i32) ' +
    Array.from({ length: UNROLL }, (_, j) => groupLocals(j)).join(' ');
  return String.raw`
  ;; y = gelu(x) over count floats.
  (func $geluForward (export "geluForward") (param $x i32) (param $y i32) (param $count i32)
    ${locals}${pass(['$x', '$y'], (j, a) => forwardGroup(j, a, madd))})

  ;; dx = dy · gelu'(x) over count floats.
  (func $geluBackward (export "geluBackward") (param $x i32) (param $dy i32) (param $dx i32) (param $count i32)
    ${locals}${pass(['$x', '$dy', '$dx'], (j, a) => backwardGroup(j, a, madd))})
${maskedRows('geluForwardRows', ['$x', '$y'], '$y', '$geluForward')}
${maskedRows('geluBackwardRows', ['$x', '$dy', '$dx'], '$dx', '$geluBackward')}
${PREVIOUS}`;
}

/**
 * The masked kernels' pass (kernels/PhccMaskedGelu.ts, …Grad.ts) in one call: over `rows` rows
 * of `c` floats with a 0/1 keep value each, `pass` on each run of kept rows and zeros on each
 * run of masked ones, every output float written once. Returns −1, or, before writing
 * anything, the first row whose keep value is neither 0 nor 1 (NaN included). Done in JS (a
 * zero fill of the whole output, a scan for runs, a call of `geluForward` per run) the same
 * forward took 2.0–2.1 ns per kept element, in one call 1.45 (stage 1's [32, 32, 32, 64], a
 * 39 %-kept patch mask: 2,000 runs; one process, interleaved).
 */
function maskedRows(name: string, pointers: string[], out: string, pass: string): string {
  const params = pointers.map((p) => `(param ${p} i32)`).join(' ');
  const at = (p: string) => `(i32.add (local.get ${p}) (i32.mul (local.get $start) (local.get $rowBytes)))`;
  const keepAt = (r: string) =>
    `(f32.load (i32.add (local.get $keep) (i32.shl (local.get ${r}) (i32.const 2))))`;
  return String.raw`
  (func (export "${name}") ${params} (param $keep i32) (param $rows i32) (param $c i32) (result i32)
    (local $r i32) (local $start i32) (local $k f32) (local $rowBytes i32)
    (local.set $rowBytes (i32.shl (local.get $c) (i32.const 2)))
    (block $valid (loop $check
      (br_if $valid (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $k ${keepAt('$r')})
      (if (i32.and (f32.ne (local.get $k) (f32.const 0)) (f32.ne (local.get $k) (f32.const 1)))
        (then (return (local.get $r))))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $check)))
    (local.set $r (i32.const 0))
    (block $done (loop $run
      (br_if $done (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $start (local.get $r))
      (local.set $k ${keepAt('$r')})
      (block $end (loop $extend
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br_if $end (i32.ge_u (local.get $r) (local.get $rows)))
        (br_if $extend (f32.eq ${keepAt('$r')} (local.get $k)))))
      (if (f32.eq (local.get $k) (f32.const 1))
        (then (call ${pass} ${pointers.map(at).join(' ')}
          (i32.mul (i32.sub (local.get $r) (local.get $start)) (local.get $c))))
        (else (drop (call $zero ${at(out)}
          (i32.mul (i32.sub (local.get $r) (local.get $start)) (local.get $c))))))
      (br $run)))
    (i32.const -1))`;
}

/** The helpers before issue #19's rework, verbatim (one exp + division as 1 − 2/(e^{2u} + 1), per-vector calls). */
const PREVIOUS = String.raw`
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
  (func (export "geluForwardTanh") (param $x i32) (param $y i32) (param $count i32)
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
  (func (export "geluBackwardTanh") (param $x i32) (param $dy i32) (param $dx i32) (param $count i32)
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
`;
