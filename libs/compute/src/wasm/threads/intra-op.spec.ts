import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../../../common/src';
import { initBackend, requestedThreads } from '../../select';
import { heapPointer, intraOpPool, simdHelpers, simdHelperSwitch } from '../simd/helpers';
import { IntraOpPool } from './intra-op-pool';
import { LN_BLOCK_ROWS } from '../simd/helpers-wat';
import { SPLIT_NAMES, SplitName, splitJob } from './split-jobs';

/**
 * Intra-op threads (issue #19): the threaded tfjs-wasm build starts in Node with a shared heap,
 * a second thread runs the SIMD helpers on it, and every split call writes exactly what the
 * whole call writes, bit for bit, however the pieces fall between the threads.
 */
let backend: tf.KernelBackend;

beforeAll(async () => {
  const info = await initBackend({ backend: 'wasm', threads: 2 });
  expect(info.threads).toBe(2);
  expect(info.helpers).toMatch(/2 intra-op threads/);
  backend = tf.backend();
});

afterEach(() => {
  IntraOpPool.minWork = 1 << 19;
  IntraOpPool.piecesPerThread = 6;
});

/** One buffer of a call: its length in floats, and whether it is written (compared) or read. */
interface Buffer {
  floats: number;
  output?: boolean;
  /** A keep map: 0 or 1 per row (random otherwise). */
  keep?: boolean;
  /** All zeros (the conv packer's zero row). */
  zero?: boolean;
}

/**
 * A call of each split op on small shapes with several uneven pieces, and its buffers (`prepare`
 * derives inputs from others, e.g. a keep map's per-image starts).
 */
const CASES: Record<
  SplitName,
  { buffers: Buffer[]; args: (p: number[]) => number[]; prepare?: (values: Float32Array[]) => void }
> = (() => {
  // GEMM: 13 row groups (52 rows), k 40, 3 panels (24 columns).
  const [g, k, panels] = [13, 40, 3];
  // depthwise: 5 images 9×9×8, 5×5 'same'; LayerNorm 37 rows of 64; GELU 5,203 floats (odd tail).
  const dw = { n: 5, h: 9, c: 8, kh: 5 };
  const ln = { rows: 37, c: 64 };
  const grn = { batch: 7, hw: 9, c: 16 };
  // Three blocks of LayerNorm's backward, the last one short.
  const lnb = { rows: 2 * LN_BLOCK_ROWS + 45, c: 8 };
  const count = 5203;
  // patchify 2×2 stride 2: 3 images, output 4×8, cin 4, cout 16 (k = kw·cin = 8).
  const pf = { n: 3, ho: 4, wo: 8, cin: 4, cout: 16, kh: 2 };
  const pfRows = pf.n * pf.ho;
  const inRowBytes = 2 * pf.wo * pf.cin * 4;
  const pk = 2 * pf.cin;
  return {
    gemm: {
      buffers: [
        { floats: g * k * 4 },
        { floats: panels * k * 8 },
        { floats: g * 4 * panels * 8, output: true },
      ],
      args: ([ap, bp, c]) => [ap, bp, c, g, panels, k, 16],
    },
    gemmRows: {
      buffers: [
        { floats: g * 4 * k },
        { floats: panels * k * 8 },
        { floats: g * 4 * panels * 8, output: true },
      ],
      args: ([a, bp, c]) => [a, k * 4, bp, c, g, panels, k, 16],
    },
    gemmRowsBias: {
      // k 40 in chunks of 16: the bias is added after the last chunk only.
      buffers: [
        { floats: g * 4 * k },
        { floats: panels * k * 8 },
        { floats: g * 4 * panels * 8, output: true },
        { floats: panels * 8 },
      ],
      args: ([a, bp, c, bias]) => [a, k * 4, bp, c, g, panels, k, 16, bias],
    },
    gemmTransA: {
      // A [k][4g] and B [k][8·panels] with rows padded past what is read (lda, ldb).
      buffers: [
        { floats: k * (g * 4 + 4) },
        { floats: k * (panels * 8 + 8) },
        { floats: g * 4 * panels * 8, output: true },
      ],
      args: ([a, b, c]) => [a, (g * 4 + 4) * 4, b, (panels * 8 + 8) * 4, c, g, panels, k, 16],
    },
    gemmRowsAdd: {
      buffers: [
        { floats: g * 4 * k },
        { floats: panels * k * 8 },
        { floats: g * 4 * panels * 8, output: true },
      ],
      args: ([a, bp, c]) => [a, k * 4, bp, c, g, panels, k, 16],
    },
    layerNormBackwardBlocks: {
      // dx and each block's γ/β sums; the stats' rstd made positive.
      buffers: [
        { floats: lnb.rows * lnb.c },
        { floats: lnb.rows * lnb.c },
        { floats: lnb.c },
        { floats: lnb.rows * 2 },
        { floats: lnb.rows * lnb.c, output: true },
        { floats: 3 * 2 * lnb.c, output: true },
      ],
      args: ([x, dy, gamma, stats, dx, blockSums]) => [x, dy, gamma, stats, dx, blockSums, lnb.rows, lnb.c],
      prepare: (values) => {
        for (let r = 0; r < lnb.rows; r++) values[3][2 * r + 1] = 1 + Math.abs(values[3][2 * r + 1]);
      },
    },
    grnForward: {
      // y, the norms and denominators, and each image's scratch (written, so compared too).
      buffers: [
        { floats: grn.batch * grn.hw * grn.c },
        { floats: grn.c },
        { floats: grn.c },
        { floats: grn.batch * grn.hw * grn.c, output: true },
        { floats: grn.batch * grn.c, output: true },
        { floats: grn.batch, output: true },
        { floats: grn.batch * grn.c, output: true },
      ],
      args: ([x, gamma, beta, y, norms, denom, scratch]) => [
        x,
        gamma,
        beta,
        y,
        norms,
        denom,
        scratch,
        grn.batch,
        grn.hw,
        grn.c,
        1e-6,
        1e-6,
      ],
    },
    grnBackwardImages: {
      // dx, and each image's s, t, dx coefficients and dγ share; the norms made positive.
      buffers: [
        { floats: grn.batch * grn.hw * grn.c },
        { floats: grn.batch * grn.hw * grn.c },
        { floats: grn.c },
        { floats: grn.batch * grn.c },
        { floats: grn.batch },
        { floats: grn.batch * grn.hw * grn.c, output: true },
        { floats: grn.batch * 4 * grn.c, output: true },
      ],
      args: ([x, dy, gamma, norms, denom, dx, scratch]) => [
        x,
        dy,
        gamma,
        norms,
        denom,
        dx,
        scratch,
        grn.batch,
        grn.hw,
        grn.c,
      ],
      prepare: (values) => {
        for (const i of [3, 4]) values[i].forEach((v, j) => (values[i][j] = 1 + Math.abs(v)));
      },
    },
    adamwUpdate: {
      // w, g, m (in place), v (in place, made non-negative), out, and nine f64 hyper-parameters.
      buffers: [
        { floats: count },
        { floats: count },
        { floats: count, output: true },
        { floats: count, output: true },
        { floats: count, output: true },
        { floats: 18 },
      ],
      args: ([w, g, m, v, out, hyper]) => [w, g, m, v, out, count, hyper],
      prepare: (values) => {
        values[3].forEach((x, i) => (values[3][i] = Math.abs(x)));
        const hyper = new DataView(values[5].buffer, values[5].byteOffset);
        [0.7, 0.9, 0.999, 0.1, 0.001, 1e-3, 1.2, 1e-8, 0.9995].forEach((h, i) =>
          hyper.setFloat64(8 * i, h, true),
        );
      },
    },
    geluForward: {
      buffers: [{ floats: count }, { floats: count, output: true }],
      args: ([x, y]) => [x, y, count],
    },
    geluForwardTanh: {
      buffers: [{ floats: count }, { floats: count, output: true }],
      args: ([x, y]) => [x, y, count],
    },
    geluBackward: {
      buffers: [{ floats: count }, { floats: count }, { floats: count, output: true }],
      args: ([x, dy, dx]) => [x, dy, dx, count],
    },
    geluBackwardTanh: {
      buffers: [{ floats: count }, { floats: count }, { floats: count, output: true }],
      args: ([x, dy, dx]) => [x, dy, dx, count],
    },
    geluForwardRows: {
      // 41 rows of 12 channels, about half kept.
      buffers: [{ floats: 41 * 12 }, { floats: 41 * 12, output: true }, { floats: 41, keep: true }],
      args: ([x, y, keep]) => [x, y, keep, 41, 12],
    },
    geluBackwardRows: {
      buffers: [
        { floats: 41 * 12 },
        { floats: 41 * 12 },
        { floats: 41 * 12, output: true },
        { floats: 41, keep: true },
      ],
      args: ([x, dy, dx, keep]) => [x, dy, dx, keep, 41, 12],
    },
    layerNormForward: {
      buffers: [
        { floats: ln.rows * ln.c },
        { floats: ln.c },
        { floats: ln.c },
        { floats: ln.rows * ln.c, output: true },
        { floats: ln.rows * 2, output: true },
      ],
      args: ([x, gamma, beta, y, stats]) => [x, gamma, beta, y, stats, ln.rows, ln.c, 1e-6],
    },
    depthwiseForward: {
      buffers: [
        { floats: dw.n * dw.h * dw.h * dw.c },
        { floats: dw.kh * dw.kh * dw.c },
        { floats: dw.n * dw.h * dw.h * dw.c, output: true },
      ],
      args: ([x, w, out]) => [x, w, out, dw.n, dw.h, dw.h, dw.c, dw.h, dw.h, dw.kh, dw.kh, 2, 2],
    },
    depthwiseFilterGrad: {
      // 48 channels: three 16-channel pieces.
      buffers: [{ floats: 3 * 9 * 9 * 48 }, { floats: 3 * 9 * 9 * 48 }, { floats: 5 * 5 * 48, output: true }],
      args: ([x, dy, dw]) => [x, dy, dw, 3, 9, 9, 48, 9, 9, 5, 5, 2, 2],
    },
    depthwiseForwardKept: {
      // Mode 1 (kept pixels' rows only, each image from its start row) on about half the pixels.
      buffers: [
        { floats: dw.n * dw.h * dw.h * dw.c },
        { floats: dw.kh * dw.kh * dw.c },
        { floats: dw.n * dw.h * dw.h * dw.c, output: true },
        { floats: dw.n * dw.h * dw.h, keep: true },
        { floats: dw.n },
      ],
      prepare: ([, , , keep, starts]) => {
        const pixels = dw.h * dw.h;
        for (let b = 0, at = 0; b < dw.n; b++) {
          starts[b] = at;
          for (let p = 0; p < pixels; p++) at += keep[b * pixels + p];
        }
      },
      args: ([x, w, out, keep, starts]) => [
        x,
        w,
        out,
        keep,
        starts,
        1,
        dw.n,
        dw.h,
        dw.h,
        dw.c,
        dw.h,
        dw.h,
        dw.kh,
        dw.kh,
        2,
        2,
      ],
    },
    depthwiseFilterGradKeptChannels: {
      buffers: [
        { floats: 3 * 9 * 9 * 48 },
        { floats: 3 * 9 * 9 * 48 },
        { floats: 5 * 5 * 48, output: true },
        { floats: 3 * 9 * 9, keep: true },
      ],
      args: ([x, dy, dw, keep]) => [x, dy, dw, keep, 3, 9, 9, 48, 9, 9, 5, 5, 2, 2, 0, 48],
    },
    packPanels8: {
      // 45 columns: five full panels and a zero-padded one.
      buffers: [{ floats: 37 * 45 }, { floats: 6 * 37 * 8, output: true }],
      args: ([src, dst]) => [src, dst, 37, 45],
    },
    packIm2col4: {
      // Images 1–4 of five 7×7×6, 3×3 stride 2 pad 1 (4×4 out): two channel groups per tap, the second partial.
      buffers: [{ floats: 5 * 7 * 7 * 6 }, { floats: 9 * 2 * 4 * 16 * 4, output: true }],
      args: ([x, dst]) => [x, dst, 1, 4, 7, 7, 6, 4, 4, 3, 3, 2, 2, 1, 1],
    },
    packConvRows4: {
      // Output pixels 3–27 of two 7×7×6 images, 3×3 stride 2 pad 1 (4×4 out): seven row groups,
      // the last one partly past the range (zeros), taps outside the image read from `zeros`.
      buffers: [
        { floats: 2 * 7 * 7 * 6 },
        { floats: 8, zero: true },
        { floats: 7 * 9 * 6 * 4, output: true },
      ],
      args: ([x, zeros, dst]) => [x, zeros, dst, 3, 25, 7, 7, 6, 4, 4, 3, 3, 2, 2, 1, 1],
    },
    patchifyForwardRows: {
      buffers: [
        { floats: pfRows * 2 * inRowBytes },
        { floats: 2 * (pf.cout / 8) * pk * 8 },
        { floats: pfRows * pf.wo * pf.cout, output: true },
      ],
      args: ([x, bp, out]) => [
        x,
        out,
        bp,
        pfRows,
        pf.kh,
        inRowBytes,
        pf.wo * pf.cout * 4,
        (pf.cout / 8) * pk * 32,
        pk,
        pf.wo / 4,
        pf.cout / 8,
        16,
      ],
    },
    patchifyInputGradRows: {
      buffers: [
        { floats: pfRows * pf.wo * pf.cout },
        { floats: 2 * (pk / 8) * pf.cout * 8 },
        { floats: pfRows * 2 * 2 * pf.wo * pf.cin, output: true },
      ],
      args: ([dy, bp, dx]) => [
        dy,
        dx,
        bp,
        pfRows,
        pf.kh,
        pf.wo * pf.cout * 4,
        inRowBytes,
        (pk / 8) * pf.cout * 32,
        pf.cout,
        pf.wo / 4,
        pk / 8,
        16,
      ],
    },
  };
})();

/** Runs `op` on fresh copies of the same inputs through the pool; returns every output's values. */
function runOnce(
  op: SplitName,
  mutate: (job: ReturnType<typeof splitJob>) => ReturnType<typeof splitJob> = (j) => j,
  edit: (values: Float32Array[]) => void = () => {},
) {
  const rng = new Rng(7);
  const { buffers, args, prepare } = CASES[op];
  const values = buffers.map((b) =>
    Float32Array.from({ length: b.floats }, () =>
      b.zero ? 0 : b.keep ? Number(rng.next() < 0.5) : rng.normal() * (b.output ? 1 : 0.5),
    ),
  );
  edit(values);
  prepare?.(values);
  const tensors = values.map((v) => tf.tensor1d(v));
  const pointers = tensors.map((t) => heapPointer(backend, t));
  simdHelperSwitch.intraOp = false;
  const helpers = simdHelpers(backend)!;
  simdHelperSwitch.intraOp = true;
  const answer = intraOpPool(backend)!.run(mutate(splitJob(op, args(pointers))), helpers, helpers.fma);
  const outputs = tensors.filter((_, i) => buffers[i].output).map((t) => Array.from(t.dataSync()));
  tf.dispose(tensors);
  return [...outputs, [answer]];
}

describe('intra-op threads on the shared wasm heap', () => {
  it('start tfjs-wasm threaded in Node, with the helpers on its shared memory', () => {
    const pool = intraOpPool(backend)!;
    expect(pool.threads).toBe(2);
    const memory = (backend as unknown as { wasm: { wasmMemory: { buffer: unknown } } }).wasm.wasmMemory;
    expect(memory.buffer).toBeInstanceOf(SharedArrayBuffer);
  });

  it.each(SPLIT_NAMES.map((op) => [op]))('%s split into uneven pieces writes what one call writes', (op) => {
    IntraOpPool.minWork = Infinity;
    const whole = runOnce(op);
    const pool = intraOpPool(backend)!;
    const before = pool.counts.split;
    IntraOpPool.minWork = 0;
    IntraOpPool.piecesPerThread = 3;
    const split = runOnce(op);
    expect(pool.counts.split).toBe(before + 1);
    expect(split).toEqual(whole);
    // The comparison sees a piece that is not run: the same job, one item short.
    const short = runOnce(op, (job) => ({ ...job, items: job.items - 1 }));
    expect(short).not.toEqual(whole);
  });

  it('cuts a small weight gradient into one piece per thread, other calls into many', () => {
    // gemmTransA's pieces each stream all of B: halved, the threads share its trips from memory.
    const transA = splitJob('gemmTransA', [0, 64, 0, 256, 0, 8, 8, 49152, 256]);
    expect(transA.onePiecePerThread).toBe(true);
    expect(IntraOpPool.chunkOf(transA, 2)).toBe(4);
    expect(IntraOpPool.chunkOf(transA, 3)).toBe(3);
    const rows = splitJob('gemmRows', [0, 128, 0, 0, 768, 8, 32, 256]);
    expect(rows.onePiecePerThread).toBeUndefined();
    expect(IntraOpPool.chunkOf(rows, 2)).toBe(Math.ceil(768 / (2 * IntraOpPool.piecesPerThread)));
  });

  it('answers the first bad keep value over the whole call, as one call does, whichever piece finds it', () => {
    // Rows 23 and 31 hold 0.5: pieces after the first bad one find the second.
    const badRows = (values: Float32Array[]) => {
      values[2][23] = 0.5;
      values[2][31] = 0.5;
    };
    for (const pieces of [3, 20]) {
      IntraOpPool.minWork = Infinity;
      const whole = runOnce('geluForwardRows', undefined, badRows);
      IntraOpPool.minWork = 0;
      IntraOpPool.piecesPerThread = pieces;
      const split = runOnce('geluForwardRows', undefined, badRows);
      expect(whole.at(-1)).toEqual([23]);
      expect(split.at(-1)).toEqual([23]);
    }
  });

  it('reports a worker’s failure as an error of the call, and keeps working after it', () => {
    IntraOpPool.minWork = 0;
    simdHelperSwitch.intraOp = false;
    const helpers = simdHelpers(backend)!;
    simdHelperSwitch.intraOp = true;
    // Output rows past the end of the heap: every piece traps, whichever thread takes it.
    const far = 0x7ff00000;
    const job = splitJob('geluForward', [0, far, 64 * 1024]);
    expect(() => intraOpPool(backend)!.run(job, helpers, helpers.fma)).toThrow(/out of bounds/);
    const again = runOnce('gemmRows');
    IntraOpPool.minWork = Infinity;
    expect(again).toEqual(runOnce('gemmRows'));
  });

  it('checks the thread count it is asked for', () => {
    expect(requestedThreads(3)).toBe(3);
    expect(() => requestedThreads(0)).toThrow(/threads must be a whole number from 1 to 64, got "0"/);
    const saved = process.env.PHCC_WASM_THREADS;
    process.env.PHCC_WASM_THREADS = 'two';
    try {
      expect(() => requestedThreads(undefined)).toThrow(/got "two" \(from PHCC_WASM_THREADS\)/);
    } finally {
      if (saved === undefined) delete process.env.PHCC_WASM_THREADS;
      else process.env.PHCC_WASM_THREADS = saved;
    }
  });
});
