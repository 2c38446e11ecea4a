/**
 * How one SIMD helper call is cut into independent pieces that two (or more) threads run on one
 * shared wasm memory, and the shared control block they coordinate through. Dependency-free:
 * the main thread (intra-op-pool.ts) and every pool worker (intra-op-worker.ts) import this one
 * definition, so both cut a call the same way.
 *
 * Every split here is along rows whose results do not depend on each other (a GEMM's 4-row
 * groups, LayerNorm's rows, a depthwise conv's images, GELU's and AdamW's blocks, a pack's panels or images)
 * or along the channels of a reduction (the depthwise filter gradient: each channel's sum runs
 * over the same pixels in the same order): each output element is computed by the same
 * instructions in the same order as in one call, so a threaded step is bit-identical to a
 * one-thread step. Reductions across rows are split only where the summation order is fixed by
 * the data, not by the pieces (LayerNorm's γ/β gradient by its 256-row blocks, GRN's by images,
 * each part's sums then added in order by `sumShares`); bias sums are not split: partial sums in
 * an order that depends on the pieces would change the rounding.
 */
import { LN_BLOCK_ROWS } from '../simd/helpers-wat';

/** A row-major GEMM's arguments: C [4·groups][8·panels] (+)= A · Bp, A's rows `lda` bytes apart. */
type GemmRowsArgs = [
  a: number,
  lda: number,
  bp: number,
  c: number,
  groups: number,
  panels: number,
  k: number,
  kc: number,
];
/** A conv's geometry as the packers take it: input h, w, cin; output ho, wo; kernel, strides, padding. */
export type ConvGeometryArgs = [
  h: number,
  w: number,
  cin: number,
  ho: number,
  wo: number,
  kh: number,
  kw: number,
  sh: number,
  sw: number,
  padT: number,
  padL: number,
];
/** An im2col pack's arguments: images [b0, b0 + nb) of NHWC x into dst. */
type Im2colArgs = [x: number, dst: number, b0: number, nb: number, ...geometry: ConvGeometryArgs];
/** A stride-1 depthwise conv's geometry after its three pointers. */
type DepthwiseGeometry = [
  n: number,
  h: number,
  w: number,
  c: number,
  ho: number,
  wo: number,
  kh: number,
  kw: number,
  padT: number,
  padL: number,
];
type DepthwiseArgs = [x: number, filter: number, out: number, ...geometry: DepthwiseGeometry];
type DepthwiseGradArgs = [x: number, dy: number, dw: number, ...geometry: DepthwiseGeometry];
/** `depthwiseForwardKept`: a keep map (f32 per output pixel), each image's first compact row (f32), a mode. */
type DepthwiseKeptArgs = [
  x: number,
  filter: number,
  out: number,
  keep: number,
  starts: number,
  mode: number,
  ...geometry: DepthwiseGeometry,
];
type DepthwiseGradKeptArgs = [
  x: number,
  dy: number,
  dw: number,
  keep: number,
  ...geometry: DepthwiseGeometry,
  c0: number,
  c1: number,
];
/**
 * A patchify conv's rows (composite calls below): input, output, packed W[i] at bp + i·panelBytes,
 * output rows, filter rows, the two row strides in bytes, then the GEMM's k, groups, panels, kc.
 */
type PatchifyRowsArgs = [
  from: number,
  to: number,
  bp: number,
  rows: number,
  kh: number,
  fromRowBytes: number,
  toRowBytes: number,
  panelBytes: number,
  k: number,
  groups: number,
  panels: number,
  kc: number,
];

/** The helper exports a call can be split over, and their pieces' variants (SimdHelpers extends this). */
export interface SplitExports {
  gemm(ap: number, bp: number, c: number, groups: number, panels: number, k: number, kc: number): void;
  /** C [4·groups][8·panels] = A · Bp, A row-major in place (rows `lda` bytes apart); C overwritten. */
  gemmRows(...args: GemmRowsArgs): void;
  /** C [4·groups][8·panels] += A · Bp, as `gemmRows` but adding to what C holds. */
  gemmRowsAdd(...args: GemmRowsArgs): void;
  /**
   * C [4·groups][8·panels] = Aᵀ · B, A [k][4·groups] and B [k][8·panels] row-major in place (rows
   * `lda` and `ldb` bytes apart); C overwritten.
   */
  gemmTransA(
    a: number,
    lda: number,
    b: number,
    ldb: number,
    c: number,
    groups: number,
    panels: number,
    k: number,
    kc: number,
  ): void;
  /** C = A · Bp + bias (bias: 8·panels floats, one per column), as `gemmRows` then a broadcast add. */
  gemmRowsBias(...args: [...GemmRowsArgs, bias: number]): void;
  /** y = gelu(x), tanh form, over count floats (simd/gelu-wat.ts). */
  geluForward(x: number, y: number, count: number): void;
  /** dx = dy · gelu'(x) over count floats. */
  geluBackward(x: number, dy: number, dx: number, count: number): void;
  /** The same two as before issue #19's rework, for `PHCC_FAST_GELU=0` and the before/after bench. */
  geluForwardTanh(x: number, y: number, count: number): void;
  geluBackwardTanh(x: number, dy: number, dx: number, count: number): void;
  /**
   * The masked kernels' pass: rows of c floats with a 0/1 keep value each (keep [rows]); gelu on
   * kept rows, zeros on masked ones. Returns −1, or the first row whose keep value is not 0 or 1
   * (then nothing is written; when intra-op threads share the call, other pieces' rows may be,
   * and the caller drops the output).
   */
  geluForwardRows(x: number, y: number, keep: number, rows: number, c: number): number;
  /** dx = dy · gelu'(x) on kept rows, zeros on masked ones; returns as `geluForwardRows`. */
  geluBackwardRows(x: number, dy: number, dx: number, keep: number, rows: number, c: number): number;
  /** LayerNorm over rows of `c` floats (c % 4 = 0); stats gets (mean, rstd) per row. */
  layerNormForward(
    x: number,
    gamma: number,
    beta: number,
    y: number,
    stats: number,
    rows: number,
    c: number,
    eps: number,
  ): void;
  depthwiseForward(...args: DepthwiseArgs): void;
  /**
   * `depthwiseForward` at the output pixels `keep` keeps. mode 1: their rows only, image b's
   * from row starts[b] of out; mode 2: in place, zeros at the others; mode 0: every pixel.
   */
  depthwiseForwardKept(...args: DepthwiseKeptArgs): void;
  packPanels8(src: number, dst: number, k: number, n: number): void;
  /**
   * LayerNorm's dx from the forward's (mean, rstd) per row, and per block of `LN_BLOCK_ROWS` rows
   * the float32 sums of dy·x̂ and dy (2·c floats a block) for `sumShares`.
   */
  layerNormBackwardBlocks(
    x: number,
    dy: number,
    gamma: number,
    stats: number,
    dx: number,
    blockSums: number,
    rows: number,
    c: number,
  ): void;
  /**
   * GRN over [batch, hw, c] (c % 4 = 0); writes the norms [batch, c] and denominators [batch];
   * scratch: c floats per image.
   */
  grnForward(
    x: number,
    gamma: number,
    beta: number,
    y: number,
    norms: number,
    denom: number,
    scratch: number,
    batch: number,
    hw: number,
    c: number,
    normEps: number,
    eps: number,
  ): void;
  /**
   * GRN's dx from the forward's norms and denominators, image by image; leaves each image's
   * shares of dγ and dβ in its scratch (4·c floats per image) for `sumShares`.
   */
  grnBackwardImages(
    x: number,
    dy: number,
    gamma: number,
    norms: number,
    denom: number,
    dx: number,
    scratch: number,
    batch: number,
    hw: number,
    c: number,
  ): void;
  /**
   * AdamW on count floats (simd/optimizer-wat.ts): w → out, m and v in place, g scaled by the
   * clip; hyper points to the f64 hyper-parameters (`ADAMW_HYPER`).
   */
  adamwUpdate(w: number, g: number, m: number, v: number, out: number, count: number, hyper: number): void;
  /** Panels [p0, p1) of `packPanels8`'s output. */
  packPanels8Range(src: number, dst: number, k: number, n: number, p0: number, p1: number): void;
  packIm2col4(...args: Im2colArgs): void;
  /**
   * A forward conv's Ap: output pixels [p0, p0 + count), four to a row group of k = kh·kw·cin
   * entries (zeros: ≥ cin zero floats, read for taps outside the image).
   */
  packConvRows4(
    ...args: [x: number, zeros: number, dst: number, p0: number, count: number, ...geometry: ConvGeometryArgs]
  ): void;
  /** `packIm2col4` of images [b0, b0 + nb) into a pack whose K spans `kImages` images (dst at image b0). */
  packIm2col4Part(...args: [...Im2colArgs, kImages: number]): void;
  /** dw (zeroed by the caller) += the filter gradient of a stride-1, multiplier-1 depthwise conv. */
  depthwiseFilterGrad(...args: DepthwiseGradArgs): void;
  /**
   * `depthwiseFilterGrad` on channels [c0, c1) only, over the output pixels `keep` keeps (dy is
   * zero at the others) or, keep 0, over every pixel.
   */
  depthwiseFilterGradKeptChannels(...args: DepthwiseGradKeptArgs): void;
}

/**
 * Calls made of several helper calls, split as one job so that a piece is worth a thread's
 * wake-up: a patchify conv (conv-patchify.ts) is one small GEMM per output row and filter row
 * (thousands a step, each too small to split), so its pieces are whole output rows.
 */
export interface CompositeCalls {
  /**
   * Output rows [0, rows) of a patchify conv (from = x, to = out): out_row = Σ_i x_(kh·row+i) · W[i],
   * W[i] packed at bp + i·panelBytes.
   */
  patchifyForwardRows(...args: PatchifyRowsArgs): void;
  /** Its input gradient (from = dy, to = dx): dx_(kh·row+i) = dy_row · W[i]ᵀ for row in [0, rows). */
  patchifyInputGradRows(...args: PatchifyRowsArgs): void;
}

/** The helpers that are split (the `…Range`/`…Part` exports are only their pieces; `…KeptChannels` is both). */
export type SplitName =
  Exclude<keyof SplitExports, 'packPanels8Range' | 'packIm2col4Part'> | keyof CompositeCalls;

/** Op codes, in the control block's OP word. STOP ends a worker. */
export const SPLIT_NAMES: readonly SplitName[] = [
  'gemm',
  'gemmRows',
  'gemmRowsAdd',
  'gemmRowsBias',
  'gemmTransA',
  'geluForward',
  'geluBackward',
  'geluForwardTanh',
  'geluBackwardTanh',
  'geluForwardRows',
  'geluBackwardRows',
  'layerNormForward',
  'depthwiseForward',
  'depthwiseFilterGrad',
  'depthwiseForwardKept',
  'depthwiseFilterGradKeptChannels',
  'packPanels8',
  'packIm2col4',
  'packConvRows4',
  'patchifyForwardRows',
  'patchifyInputGradRows',
  'adamwUpdate',
  'grnForward',
  'grnBackwardImages',
  'layerNormBackwardBlocks',
];
export const STOP_OP = -1;
/** A call without an answer, or a piece that found nothing to report (the masked GELU's −1). */
export const NO_RESULT = -1;
/** What RESULT starts at, above every row index a piece can report. */
export const RESULT_NONE = 0x7fffffff;

/** Word offsets in the control block (an Int32Array over a SharedArrayBuffer). */
export const CTRL = {
  /** Bumped by the main thread to publish a job (workers wait on it). */
  SEQ: 0,
  /** The next unclaimed item: every thread claims CHUNK items at a time with Atomics.add. */
  NEXT: 1,
  /** Workers that finished the current job (the main thread waits for all). */
  DONE: 2,
  /** 0, or 1 when a worker's call threw (its message is in the text area). */
  ERROR: 3,
  OP: 4,
  /** 1: the FMA build of the helpers; 0: the plain one (the main thread's current choice). */
  FMA: 5,
  ITEMS: 6,
  CHUNK: 7,
  /**
   * A call's answer where it has one (the masked GELU's first bad row): every piece lowers it
   * to its own answer, so the first over the whole call wins, as in one call. NO_RESULT: none.
   */
  RESULT: 25,
  /** Atomics.load polls a worker makes before it sleeps (futex) when no job is published. */
  SPIN: 24,
  /** The call's arguments, one word each (floats through a Float32Array on the same words). */
  ARGS: 8,
  ARG_WORDS: 16,
  /** Bytes of UTF-8 after the words above, for a worker's error message. */
  TEXT: 26 * 4,
  TEXT_BYTES: 512,
} as const;
export const CTRL_BYTES = CTRL.TEXT + CTRL.TEXT_BYTES;

/** Floats per GELU item: whole 4-float vectors, so a piece never splits one. */
export const GELU_BLOCK = 1024;
/** Floats per AdamW item: whole f64x2 pairs, so a piece never splits one. */
export const ADAMW_BLOCK = 1024;

/** What one call is cut into: how many items, and its arguments as the control block holds them. */
export interface SplitJob {
  op: SplitName;
  items: number;
  /** Roughly the multiply-adds (or float operations) of the whole call, to decide whether to split. */
  work: number;
  args: number[];
  /**
   * One piece per thread instead of many small ones: for a call whose every piece streams the
   * same long operand (gemmTransA: each group of A's columns reads all of B), so that the threads
   * walk it side by side and share its trips from memory (see IntraOpPool.chunkOf).
   */
  onePiecePerThread?: boolean;
}

/** The job for a call of `op` with the helper's own arguments. */
export function splitJob(op: SplitName, args: number[]): SplitJob {
  switch (op) {
    case 'gemm':
    case 'gemmRows':
    case 'gemmRowsAdd':
    case 'gemmRowsBias': {
      const groups = op === 'gemm' ? args[3] : args[4];
      const panels = op === 'gemm' ? args[4] : args[5];
      const k = op === 'gemm' ? args[5] : args[6];
      return { op, items: groups, work: 32 * groups * panels * k, args };
    }
    case 'gemmTransA': {
      const [, , , , , groups, panels, k] = args;
      return { op, items: groups, work: 32 * groups * panels * k, args, onePiecePerThread: true };
    }
    case 'geluForward':
    case 'geluForwardTanh':
      return { op, items: Math.ceil(args[2] / GELU_BLOCK), work: 8 * args[2], args };
    case 'geluBackward':
    case 'geluBackwardTanh':
      return { op, items: Math.ceil(args[3] / GELU_BLOCK), work: 10 * args[3], args };
    case 'geluForwardRows':
      return { op, items: args[3], work: 8 * args[3] * args[4], args };
    case 'geluBackwardRows':
      return { op, items: args[4], work: 10 * args[4] * args[5], args };
    case 'layerNormForward':
      return { op, items: args[5], work: 6 * args[5] * args[6], args };
    case 'depthwiseForward': {
      const [, , , n, , , c, ho, wo, kh, kw] = args;
      return { op, items: n, work: n * ho * wo * c * kh * kw, args };
    }
    case 'depthwiseFilterGrad': {
      const [, , , n, , , c, ho, wo, kh, kw] = args;
      return { op, items: c / depthwiseChannelUnit(c), work: n * ho * wo * c * kh * kw, args };
    }
    case 'depthwiseForwardKept': {
      const [, , , , , , n, , , c, ho, wo, kh, kw] = args;
      return { op, items: n, work: n * ho * wo * c * kh * kw, args };
    }
    case 'depthwiseFilterGradKeptChannels': {
      const [, , , , n, , , c, ho, wo, kh, kw, , , c0, c1] = args;
      return {
        op,
        items: (c1 - c0) / depthwiseChannelUnit(c),
        work: n * ho * wo * (c1 - c0) * kh * kw,
        args,
      };
    }
    case 'packPanels8': {
      const [, , k, n] = args;
      return { op, items: Math.ceil(n / 8), work: COPY_WORK * k * n, args };
    }
    case 'packIm2col4': {
      const [, , , nb, , , cin, ho, wo, kh, kw] = args;
      return { op, items: nb, work: COPY_WORK * nb * ho * wo * kh * kw * cin, args };
    }
    case 'packConvRows4': {
      const [, , , , count, , , cin, , , kh, kw] = args;
      return { op, items: Math.ceil(count / 4), work: COPY_WORK * count * kh * kw * cin, args };
    }
    case 'patchifyForwardRows':
    case 'patchifyInputGradRows': {
      const [, , , rows, kh, , , , k, groups, panels] = args;
      return { op, items: rows, work: 32 * rows * kh * groups * panels * k, args };
    }
    case 'adamwUpdate':
      // A float64 divide and square root per element weigh about as much as a few dozen multiply-adds.
      return { op, items: Math.ceil(args[5] / ADAMW_BLOCK), work: 24 * args[5], args };
    case 'layerNormBackwardBlocks':
      // Blocks of rows: each block's γ/β sums are its own (summed over the blocks afterwards).
      return { op, items: Math.ceil(args[6] / LN_BLOCK_ROWS), work: 8 * args[6] * args[7], args };
    case 'grnForward': {
      // Images: each is normalised on its own (two passes over it).
      const [, , , , , , , batch, hw, c] = args;
      return { op, items: batch, work: 4 * batch * hw * c, args };
    }
    case 'grnBackwardImages': {
      const [, , , , , , , batch, hw, c] = args;
      return { op, items: batch, work: 6 * batch * hw * c, args };
    }
  }
}

/** The composite calls for one thread's helpers, each the whole call as one piece. */
export function compositeCalls(helpers: SplitExports): CompositeCalls {
  const whole =
    (op: keyof CompositeCalls) =>
    (...args: number[]) =>
      runPiece(helpers, op, args, () => NaN, 0, args[3]);
  return {
    patchifyForwardRows: whole('patchifyForwardRows'),
    patchifyInputGradRows: whole('patchifyInputGradRows'),
  };
}

/**
 * Runs items [i0, i0 + n) of a job: the helper called on the sub-range, every pointer moved to
 * where that range starts. `args` are the whole call's; `floatArg` reads an argument word as f32.
 * Returns the piece's answer in whole-call terms (a row index), or NO_RESULT.
 */
export function runPiece(
  helpers: SplitExports,
  op: SplitName,
  args: ArrayLike<number>,
  floatArg: (i: number) => number,
  i0: number,
  n: number,
): number {
  switch (op) {
    case 'gemm': {
      // Ap [G][K][4] (16 bytes a k step per group); C [4G][8P] (32 bytes a panel per row).
      const [ap, bp, c, , panels, k, kc] = args as number[];
      helpers.gemm(ap + i0 * k * 16, bp, c + i0 * 4 * panels * 32, n, panels, k, kc);
      return NO_RESULT;
    }
    case 'gemmRows':
    case 'gemmRowsAdd': {
      const [a, lda, bp, c, , panels, k, kc] = args as number[];
      helpers[op](a + i0 * 4 * lda, lda, bp, c + i0 * 4 * panels * 32, n, panels, k, kc);
      return NO_RESULT;
    }
    case 'gemmTransA': {
      // A piece is a range of row groups: four of A's columns each, and C's rows.
      const [a, lda, b, ldb, c, , panels, k, kc] = args as number[];
      helpers.gemmTransA(a + i0 * 16, lda, b, ldb, c + i0 * 4 * panels * 32, n, panels, k, kc);
      return NO_RESULT;
    }
    case 'gemmRowsBias': {
      const [a, lda, bp, c, , panels, k, kc, bias] = args as number[];
      helpers.gemmRowsBias(a + i0 * 4 * lda, lda, bp, c + i0 * 4 * panels * 32, n, panels, k, kc, bias);
      return NO_RESULT;
    }
    case 'geluForward':
    case 'geluForwardTanh': {
      const [x, y, count] = args as number[];
      const [at, len] = geluRange(i0, n, count);
      helpers[op](x + at * 4, y + at * 4, len);
      return NO_RESULT;
    }
    case 'geluBackward':
    case 'geluBackwardTanh': {
      const [x, dy, dx, count] = args as number[];
      const [at, len] = geluRange(i0, n, count);
      helpers[op](x + at * 4, dy + at * 4, dx + at * 4, len);
      return NO_RESULT;
    }
    case 'geluForwardRows': {
      const [x, y, keep, , c] = args as number[];
      const bad = helpers.geluForwardRows(x + i0 * c * 4, y + i0 * c * 4, keep + i0 * 4, n, c);
      return bad < 0 ? NO_RESULT : i0 + bad;
    }
    case 'geluBackwardRows': {
      const [x, dy, dx, keep, , c] = args as number[];
      const at = i0 * c * 4;
      const bad = helpers.geluBackwardRows(x + at, dy + at, dx + at, keep + i0 * 4, n, c);
      return bad < 0 ? NO_RESULT : i0 + bad;
    }
    case 'layerNormForward': {
      const [x, gamma, beta, y, stats, , c] = args as number[];
      const rowBytes = c * 4;
      helpers.layerNormForward(
        x + i0 * rowBytes,
        gamma,
        beta,
        y + i0 * rowBytes,
        stats + i0 * 8,
        n,
        c,
        floatArg(7),
      );
      return NO_RESULT;
    }
    case 'depthwiseForward': {
      // The kept variant in mode 0 (every pixel): the same kernel.
      const [x, w, out, ...geometry] = args as number[];
      return depthwisePiece(helpers, [x, w, out, 0, 0, 0, ...geometry], i0, n);
    }
    case 'depthwiseForwardKept':
      return depthwisePiece(helpers, args as number[], i0, n);
    case 'depthwiseFilterGrad': {
      const [x, dy, dw, ...geometry] = args as number[];
      return depthwiseFilterGradPiece(helpers, [x, dy, dw, 0, ...geometry, 0, geometry[3]], i0, n);
    }
    case 'depthwiseFilterGradKeptChannels':
      return depthwiseFilterGradPiece(helpers, args as number[], i0, n);
    case 'packPanels8': {
      const [src, dst, k, cols] = args as number[];
      helpers.packPanels8Range(src, dst, k, cols, i0, i0 + n);
      return NO_RESULT;
    }
    case 'packIm2col4': {
      const [x, dst, b0, nb, ...rest] = args as number[];
      const geometry = convGeometry(rest);
      const [, , , ho, wo] = geometry;
      helpers.packIm2col4Part(x, dst + i0 * ho * wo * 16, b0 + i0, n, ...geometry, nb);
      return NO_RESULT;
    }
    case 'packConvRows4': {
      // Row group g holds pixels p0 + 4g … p0 + 4g + 3: a piece starts 4·i0 pixels in, and the
      // last piece ends where the whole call does, so its padding past `count` is the same.
      const [x, zeros, dst, p0, count, ...rest] = args as number[];
      const geometry = convGeometry(rest);
      const [, , cin, , , kh, kw] = geometry;
      const pixels = Math.min(4 * n, count - 4 * i0);
      helpers.packConvRows4(x, zeros, dst + i0 * kh * kw * cin * 16, p0 + 4 * i0, pixels, ...geometry);
      return NO_RESULT;
    }
    case 'patchifyForwardRows': {
      const [x, out, bp, , kh, inRowBytes, outRowBytes, panelBytes, k, groups, panels, kc] = args as number[];
      for (let row = i0; row < i0 + n; row++) {
        const c = out + row * outRowBytes;
        for (let i = 0; i < kh; i++) {
          const a = x + (row * kh + i) * inRowBytes;
          const gemm = i === 0 ? helpers.gemmRows : helpers.gemmRowsAdd;
          gemm(a, k * 4, bp + i * panelBytes, c, groups, panels, k, kc);
        }
      }
      return NO_RESULT;
    }
    case 'layerNormBackwardBlocks': {
      const [x, dy, gamma, stats, dx, blockSums, rows, c] = args as number[];
      const r0 = i0 * LN_BLOCK_ROWS;
      const at = r0 * c * 4;
      helpers.layerNormBackwardBlocks(
        x + at,
        dy + at,
        gamma,
        stats + r0 * 8,
        dx + at,
        blockSums + i0 * 2 * c * 4,
        Math.min(rows, (i0 + n) * LN_BLOCK_ROWS) - r0,
        c,
      );
      return NO_RESULT;
    }
    case 'grnForward': {
      const [x, gamma, beta, y, norms, denom, scratch, , hw, c] = args as number[];
      const imageBytes = i0 * hw * c * 4;
      const rowBytes = i0 * c * 4;
      helpers.grnForward(
        x + imageBytes,
        gamma,
        beta,
        y + imageBytes,
        norms + rowBytes,
        denom + i0 * 4,
        scratch + rowBytes,
        n,
        hw,
        c,
        floatArg(10),
        floatArg(11),
      );
      return NO_RESULT;
    }
    case 'grnBackwardImages': {
      const [x, dy, gamma, norms, denom, dx, scratch, , hw, c] = args as number[];
      const imageBytes = i0 * hw * c * 4;
      helpers.grnBackwardImages(
        x + imageBytes,
        dy + imageBytes,
        gamma,
        norms + i0 * c * 4,
        denom + i0 * 4,
        dx + imageBytes,
        scratch + i0 * 4 * c * 4,
        n,
        hw,
        c,
      );
      return NO_RESULT;
    }
    case 'adamwUpdate': {
      const [w, g, m, v, out, count, hyper] = args as number[];
      const at = i0 * ADAMW_BLOCK;
      const bytes = at * 4;
      const len = Math.min(count, (i0 + n) * ADAMW_BLOCK) - at;
      helpers.adamwUpdate(w + bytes, g + bytes, m + bytes, v + bytes, out + bytes, len, hyper);
      return NO_RESULT;
    }
    case 'patchifyInputGradRows': {
      const [dy, dx, bp, , kh, dyRowBytes, dxRowBytes, panelBytes, k, groups, panels, kc] = args as number[];
      for (let row = i0; row < i0 + n; row++) {
        const a = dy + row * dyRowBytes;
        for (let i = 0; i < kh; i++) {
          helpers.gemmRows(
            a,
            k * 4,
            bp + i * panelBytes,
            dx + (row * kh + i) * dxRowBytes,
            groups,
            panels,
            k,
            kc,
          );
        }
      }
      return NO_RESULT;
    }
  }
}

/**
 * Work units of a copied float, against a multiply-add's one: packing is bound by memory, so a
 * pack is worth splitting at far fewer elements than a GEMM.
 */
const COPY_WORK = 8;

/** Channels per piece of the depthwise filter gradient: its vector step (16 when c allows, else 4). */
function depthwiseChannelUnit(c: number): number {
  return c % 16 === 0 ? 16 : 4;
}

/** The conv geometry at the start of `words` (a job's argument words run on past a call's arity). */
function convGeometry(words: number[]): ConvGeometryArgs {
  return words.slice(0, CONV_GEOMETRY_WORDS) as ConvGeometryArgs;
}
/** ConvGeometryArgs' length: h, w, cin, ho, wo, kh, kw, sh, sw, padT, padL. */
const CONV_GEOMETRY_WORDS = 11;

/** Which arguments of `op` are floats (written to the block as f32 bits). */
export function floatArgIndices(op: SplitName): readonly number[] {
  if (op === 'layerNormForward') return [7];
  if (op === 'grnForward') return [10, 11];
  return [];
}

function geluRange(i0: number, n: number, count: number): [number, number] {
  const at = i0 * GELU_BLOCK;
  return [at, Math.min(count, (i0 + n) * GELU_BLOCK) - at];
}

/**
 * Images [i0, i0 + n) of a `depthwiseForwardKept` call: modes 0 and 2 write in place (the piece's
 * images start i0 images in), mode 1 writes each image at its own starts[b] row of the output.
 */
function depthwisePiece(helpers: SplitExports, args: number[], i0: number, n: number): number {
  const [x, w, out, keep, starts, mode, , h, wd, c, ho, wo, kh, kw, padT, padL] = args;
  const pixels = ho * wo;
  helpers.depthwiseForwardKept(
    x + i0 * h * wd * c * 4,
    w,
    mode === 1 ? out : out + i0 * pixels * c * 4,
    keep + i0 * pixels * 4,
    starts + i0 * 4,
    mode,
    n,
    h,
    wd,
    c,
    ho,
    wo,
    kh,
    kw,
    padT,
    padL,
  );
  return NO_RESULT;
}

/** Channel units [i0, i0 + n) past c0 of a `depthwiseFilterGradKeptChannels` call (keep 0: every pixel). */
function depthwiseFilterGradPiece(helpers: SplitExports, args: number[], i0: number, n: number): number {
  const [x, dy, dw, keep, nImages, h, w, c, ho, wo, kh, kw, padT, padL, c0] = args;
  const unit = depthwiseChannelUnit(c);
  helpers.depthwiseFilterGradKeptChannels(
    x,
    dy,
    dw,
    keep,
    nImages,
    h,
    w,
    c,
    ho,
    wo,
    kh,
    kw,
    padT,
    padL,
    c0 + i0 * unit,
    c0 + (i0 + n) * unit,
  );
  return NO_RESULT;
}

/**
 * Claims and runs pieces of the published job until none is left (every thread, the main one
 * included, runs this same loop, so a thread slowed by another process simply takes fewer pieces).
 */
export function drainJob(ctrl: Int32Array, floats: Float32Array, helpers: SplitExports): void {
  const op = SPLIT_NAMES[ctrl[CTRL.OP]];
  const items = ctrl[CTRL.ITEMS];
  const chunk = ctrl[CTRL.CHUNK];
  const args = ctrl.subarray(CTRL.ARGS, CTRL.ARGS + CTRL.ARG_WORDS);
  const floatArg = (i: number) => floats[CTRL.ARGS + i];
  for (;;) {
    const i0 = Atomics.add(ctrl, CTRL.NEXT, chunk);
    if (i0 >= items) return;
    const answer = runPiece(helpers, op, args, floatArg, i0, Math.min(chunk, items - i0));
    if (answer !== NO_RESULT) lowerResult(ctrl, answer);
  }
}

/** Sets the block's RESULT to `answer` if that is lower (an atomic minimum). */
function lowerResult(ctrl: Int32Array, answer: number): void {
  for (let seen = Atomics.load(ctrl, CTRL.RESULT); answer < seen;) {
    const was = Atomics.compareExchange(ctrl, CTRL.RESULT, seen, answer);
    if (was === seen) return;
    seen = was;
  }
}
