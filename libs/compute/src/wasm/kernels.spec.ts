import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../../common/src';
import { gradientsOn, HostTensor, maxRelativeError, randomHostTensor } from '../gradient-check';
import { layerZooLoss, layerZooParams } from '../layer-zoo';
import { fusedGelu, gelu } from '../ops/gelu';
import { initBackend } from '../select';
import { im2colLimit } from './conv-filter-im2col';
import { fastGeluSwitch } from './kernels/gelu-helpers';
import { batchedProductsRun } from './kernels/BatchMatMul';
import { WASM_KERNEL_CONFIGS } from './register-kernels';
import { simdHelpers, simdHelperSwitch } from './simd/helpers';

/**
 * Every replacement kernel against the cpu backend's own gradient, on odd sizes, batch > 1,
 * several channels, stride 1 and 2, same and valid padding. Tolerance: max relative error 1e-4
 * (definition in gradient-check.ts).
 */
const TOLERANCE = 1e-4;

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

async function expectSameGradients(
  f: (...xs: tf.Tensor[]) => tf.Tensor,
  inputs: HostTensor[],
  rng: Rng,
): Promise<void> {
  const outShape = tf.tidy(() => f(...inputs.map((h) => tf.tensor(h.values, h.shape))).shape);
  const dy = randomHostTensor(rng, outShape);
  const wasm = await gradientsOn('wasm', f, inputs, dy);
  const cpu = await gradientsOn('cpu', f, inputs, dy);
  cpu.forEach((reference, i) => {
    expect(maxRelativeError(wasm[i], reference)).toBeLessThanOrEqual(TOLERANCE);
  });
}

/** The forward output, which the replacement Conv2D computes with its own GEMM. */
async function expectSameForward(f: (...xs: tf.Tensor[]) => tf.Tensor, inputs: HostTensor[]): Promise<void> {
  const run = async (backend: string) => {
    await tf.setBackend(backend);
    const out = tf.tidy(() => f(...inputs.map((h) => tf.tensor(h.values, h.shape))));
    const values = (await out.data()) as Float32Array;
    out.dispose();
    return values;
  };
  const cpu = await run('cpu');
  const wasm = await run('wasm');
  expect(maxRelativeError(wasm, cpu)).toBeLessThanOrEqual(TOLERANCE);
}

type Pad = 'same' | 'valid';
const convCases: [string, number[], number[], number, Pad][] = [
  ['3×3 s1 same', [2, 9, 7, 3], [3, 3, 3, 5], 1, 'same'],
  ['3×3 s1 valid', [2, 9, 7, 3], [3, 3, 3, 5], 1, 'valid'],
  ['3×3 s2 same, odd size', [3, 9, 11, 4], [3, 3, 4, 6], 2, 'same'],
  ['3×3 s2 valid, odd size', [3, 9, 11, 4], [3, 3, 4, 6], 2, 'valid'],
  ['3×3 s2 same, even size', [2, 8, 8, 2], [3, 3, 2, 3], 2, 'same'],
  ['2×2 s2 valid (patchify downsample)', [2, 8, 10, 3], [2, 2, 3, 4], 2, 'valid'],
  ['1×1 s2 same', [2, 7, 7, 3], [1, 1, 3, 2], 2, 'same'],
  ['4×4 s4 valid (stem)', [2, 12, 12, 4], [4, 4, 4, 8], 4, 'valid'],
  // Patchify convs read x (forward) and write dx (input gradient) in place (conv-patchify.ts).
  ['2×2 s2 valid, 8 → 16 channels (patchify, both directions)', [2, 8, 16, 8], [2, 2, 8, 16], 2, 'valid'],
  ['2×2 s2 valid, 4 → 8 channels (patchify stem)', [3, 8, 8, 4], [2, 2, 4, 8], 2, 'valid'],
  ['4×4 s4 valid, 4 → 16 channels (patchify, four filter rows)', [2, 16, 16, 4], [4, 4, 4, 16], 4, 'valid'],
  [
    '2×2 s2 same, 6 → 8 channels (patchify forward; kw·cin = 12: input gradient by phases)',
    [2, 4, 8, 6],
    [2, 2, 6, 8],
    2,
    'same',
  ],
  [
    '2×2 s2 valid, 160 → 8 channels (patchify, kw·cin past one 256 k-chunk)',
    [1, 4, 8, 160],
    [2, 2, 160, 8],
    2,
    'valid',
  ],
  [
    '2×2 s2 valid, 9 × 17 image (a row and column left over: not patchify)',
    [2, 9, 17, 8],
    [2, 2, 8, 16],
    2,
    'valid',
  ],
  ['5×3 s1 same, non-square', [1, 6, 9, 2], [5, 3, 2, 3], 1, 'same'],
  [
    '3×3 s2 same, 6 → 10 channels (full and partial 4-channel groups, partial 8-column panel)',
    [2, 9, 10, 6],
    [3, 3, 6, 10],
    2,
    'same',
  ],
  ['3×3 s1 same, 8 → 16 channels (no padding anywhere)', [2, 7, 9, 8], [3, 3, 8, 16], 1, 'same'],
  [
    '3×3 s2 same, 9 → 12 channels, 5 × 7 output (pixel groups span rows and images)',
    [3, 9, 13, 9],
    [3, 3, 9, 12],
    2,
    'same',
  ],
];

async function expectConvCase(xShape: number[], wShape: number[], stride: number, pad: Pad): Promise<void> {
  const rng = new Rng(xShape.reduce((a, b) => a * 31 + b, stride));
  await expectSameForward(
    (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad),
    [randomHostTensor(rng, xShape), randomHostTensor(rng, wShape)],
  );
  await expectSameGradients(
    (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad),
    [randomHostTensor(rng, xShape), randomHostTensor(rng, wShape)],
    rng,
  );
}

/**
 * The data-movement helpers (im2col, phase interleave, column sums) run as wasm SIMD when they
 * load and as JS otherwise: every kernel that uses them is checked on both paths.
 */
const helperPaths: [string, { enabled: boolean; fma: boolean }][] = [
  ['wasm SIMD helpers, FMA GEMM', { enabled: true, fma: true }],
  ['wasm SIMD helpers, GEMM without FMA', { enabled: true, fma: false }],
  ['plain-JS helpers', { enabled: false, fma: false }],
];

function onHelperPath(path: { enabled: boolean; fma: boolean }): void {
  const saved = { ...simdHelperSwitch };
  beforeAll(() => Object.assign(simdHelperSwitch, path));
  afterAll(() => Object.assign(simdHelperSwitch, saved));
}

describe('SIMD helpers', () => {
  it('load on this machine with FMA (else the wasm figures would come from a slower path)', async () => {
    const info = await initBackend({ backend: 'wasm' });
    expect(info.helpers).toBe('wasm SIMD, FMA (relaxed SIMD)');
    expect(simdHelpers(tf.engine().findBackend('wasm'))?.fma).toBe(true);
  });
});

describe.each(helperPaths)('wasm Conv2D gradients match cpu, %s', (_path, path) => {
  onHelperPath(path);
  it.each(convCases)('%s', (_name, xShape, wShape, stride, pad) =>
    expectConvCase(xShape, wShape, stride, pad),
  );

  describe('im2col in chunks of one image (memory cap reached)', () => {
    const saved = { ...im2colLimit };
    beforeAll(() => Object.assign(im2colLimit, { values: 0, packed: 0 }));
    afterAll(() => Object.assign(im2colLimit, saved));
    it.each(convCases)('%s', (_name, xShape, wShape, stride, pad) =>
      expectConvCase(xShape, wShape, stride, pad),
    );
  });
});

const depthwiseCases: [string, number[], number[], number, Pad][] = [
  ['7×7 s1 same (ConvNeXt block)', [2, 9, 8, 5], [7, 7, 5, 1], 1, 'same'],
  ['7×7 s1 valid', [2, 11, 9, 3], [7, 7, 3, 1], 1, 'valid'],
  ['3×3 s2 same, odd size', [3, 9, 7, 4], [3, 3, 4, 1], 2, 'same'],
  ['3×3 s2 valid', [2, 9, 9, 2], [3, 3, 2, 1], 2, 'valid'],
  ['3×3 s1 same, channel multiplier 2', [2, 6, 7, 3], [3, 3, 3, 2], 1, 'same'],
  ['5×5 s1 same, 8 channels (model block: SIMD filter gradient)', [3, 9, 8, 8], [5, 5, 8, 1], 1, 'same'],
  ['3×3 s1 valid, 4 channels (SIMD filter gradient)', [2, 7, 6, 4], [3, 3, 4, 1], 1, 'valid'],
  // The SIMD forward's four-pixel blocks beside one-pixel borders, and the filter gradient's
  // 16-channel (c % 16 = 0) and 4-channel steps.
  [
    '5×5 s1 same, 32 channels, width 13 (blocks, then three border pixels)',
    [2, 6, 13, 32],
    [5, 5, 32, 1],
    1,
    'same',
  ],
  ['5×5 s1 same, 16 channels, width 12', [2, 5, 12, 16], [5, 5, 16, 1], 1, 'same'],
  [
    '3×3 s1 valid, 12 channels, width 11 (blocks from the first pixel)',
    [2, 5, 11, 12],
    [3, 3, 12, 1],
    1,
    'valid',
  ],
  ['4×4 s1 same, 8 channels (uneven padding: 1 before, 2 after)', [2, 7, 10, 8], [4, 4, 8, 1], 1, 'same'],
  ['5×5 s1 same on a 3×2 image (every tap row and column clipped)', [2, 3, 2, 4], [5, 5, 4, 1], 1, 'same'],
];

describe.each(helperPaths)('wasm depthwise conv gradients match cpu, %s', (_path, path) => {
  onHelperPath(path);
  it.each(depthwiseCases)('%s', async (_name, xShape, wShape, stride, pad) => {
    const rng = new Rng(xShape.reduce((a, b) => a * 17 + b, stride + 1));
    await expectSameForward(
      (x, w) => tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad),
      [randomHostTensor(rng, xShape), randomHostTensor(rng, wShape)],
    );
    await expectSameGradients(
      (x, w) => tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad),
      [randomHostTensor(rng, xShape), randomHostTensor(rng, wShape)],
      rng,
    );
  });
});

describe('wasm gather gradient (UnsortedSegmentSum) matches cpu', () => {
  it('embedding lookup with repeated and unused rows', async () => {
    const rng = new Rng(7);
    const ids = tf.tensor1d([0, 3, 3, 5, 1, 0, 3], 'int32');
    await expectSameGradients((table) => tf.gather(table, ids), [randomHostTensor(rng, [6, 4])], rng);
    ids.dispose();
  });
});

const matMulCases: [string, number[], number[], boolean, boolean][] = [
  ['dense layer (2-D)', [5, 7], [7, 3], false, false],
  ['transposeA', [7, 5], [7, 3], true, false],
  ['transposeB', [5, 7], [3, 7], false, true],
  ['both transposed', [7, 5], [3, 7], true, true],
  ['batched attention scores q·kᵀ', [3, 6, 8], [3, 6, 8], false, true],
  ['pointwise layer on our GEMM (partial row group and panel)', [301, 70], [70, 20], false, false],
  ['pointwise layer on our GEMM, transposeB', [301, 70], [20, 70], false, true],
  [
    'pointwise layer, rows a multiple of 4 (A read in place), K over two k-chunks',
    [300, 260],
    [260, 20],
    false,
    false,
  ],
  [
    'pointwise layer, rows a multiple of 4, whole panels (its input gradient too)',
    [256, 72],
    [72, 64],
    false,
    false,
  ],
  [
    'weight gradient aᵀ·b packed from untransposed a, K in several chunks',
    [4000, 70],
    [4000, 20],
    true,
    false,
  ],
  [
    'weight gradient aᵀ·b read in place (whole row groups and panels), K in several chunks',
    [1000, 36],
    [1000, 24],
    true,
    false,
  ],
  ['weight gradient aᵀ·b of no rows (a masked layer keeping none): zeros', [0, 36], [0, 24], true, false],
  [
    'weight gradient aᵀ·b with whole groups and panels but too large to read in place (packed)',
    [600, 128],
    [600, 96],
    true,
    false,
  ],
  // pHCC-SSL's region pooling and its gradient: batches of products on our GEMM, item by item.
  ['batched a · b, rows a multiple of 4, K of 3', [24, 64, 3], [24, 3, 256], false, false],
  ['batched aᵀ · b, M of 3 padded to a row group', [24, 64, 3], [24, 64, 256], true, false],
];

describe.each(helperPaths)('wasm BatchMatMul (forward and gradients) matches cpu, %s', (_path, path) => {
  onHelperPath(path);
  it.each(matMulCases)('%s', async (name, aShape, bShape, ta, tb) => {
    const rng = new Rng(aShape.length * 100 + bShape[0]);
    const inputs = [randomHostTensor(rng, aShape), randomHostTensor(rng, bShape)];
    // Forward too: a matmul's gradients never read its output, so they cannot catch a wrong one.
    const batchedBefore = batchedProductsRun.items;
    await expectSameForward((a, b) => tf.matMul(a, b, ta, tb), inputs);
    await expectSameGradients((a, b) => tf.matMul(a, b, ta, tb), inputs, rng);
    // The batched cases really take the per-item GEMM path (when the helpers are on).
    if (/^batched aᵀ? · b/.test(name)) expect(batchedProductsRun.items > batchedBefore).toBe(path.enabled);
  });
});

describe('wasm BatchMatMul forward with broadcast weights matches cpu', () => {
  // tfjs's BatchMatMul gradient does not reduce broadcast batch axes, so this case is forward only.
  it.each([
    [false, false],
    [true, true],
  ])('transposeA=%s transposeB=%s', async (ta, tb) => {
    const rng = new Rng(41);
    const a = randomHostTensor(rng, ta ? [2, 3, 700, 5] : [2, 3, 5, 700]);
    const b = randomHostTensor(rng, tb ? [12, 700] : [700, 12]);
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const out = tf.tidy(() =>
        tf.matMul(tf.tensor(a.values, a.shape), tf.tensor(b.values, b.shape), ta, tb),
      );
      const values = (await out.data()) as Float32Array;
      expect(out.shape).toEqual([2, 3, 5, 12]);
      out.dispose();
      return values;
    };
    const wasm = await run('wasm');
    const cpu = await run('cpu');
    await tf.setBackend('wasm');
    expect(maxRelativeError(wasm, cpu)).toBeLessThanOrEqual(TOLERANCE);
  });
});

describe.each(helperPaths)(
  'wasm Sum over leading axes (bias gradients) matches cpu, %s',
  (_path, enabled) => {
    onHelperPath(enabled);
    it.each([
      ['bias gradient [B,H,W,C] → [C]', [3, 5, 7, 4], [0, 1, 2], false],
      ['keepDims', [3, 5, 4], [0, 1], true],
      ['middle axes (GRN spatial sum)', [3, 5, 6, 4], [1, 2], true],
      ['last axis (original kernel)', [3, 5, 4], [2], false],
      ['600 rows, 37 columns (vector and scalar columns, several row blocks)', [600, 37], [0], false],
    ] as [string, number[], number[], boolean][])('%s', async (_name, shape, axes, keepDims) => {
      const rng = new Rng(shape[1] * 13 + axes.length);
      await expectSameGradients(
        (x) => tf.mul(tf.sum(x, axes, keepDims), 2),
        [randomHostTensor(rng, shape)],
        rng,
      );
      const x = randomHostTensor(rng, shape);
      const run = async (backend: string) => {
        await tf.setBackend(backend);
        const out = tf.tidy(() => tf.sum(tf.tensor(x.values, x.shape), axes, keepDims));
        const values = (await out.data()) as Float32Array;
        const outShape = out.shape;
        out.dispose();
        return { values, outShape };
      };
      const wasm = await run('wasm');
      const cpu = await run('cpu');
      await tf.setBackend('wasm');
      expect(wasm.outShape).toEqual(cpu.outShape);
      expect(maxRelativeError(wasm.values, cpu.values)).toBeLessThanOrEqual(TOLERANCE);
    });
  },
);

describe.each(helperPaths)(
  'GELU (fused on wasm with the helpers) matches the composed ops on cpu, %s',
  (_path, path) => {
    onHelperPath(path);
    // The σ-form helpers (default) and the previous tanh-form ones (PHCC_FAST_GELU=0).
    it.each([
      ['σ-form helpers', true],
      ['previous helpers', false],
    ])('%s: values and gradients, |x| up to 12 and a size that is not a multiple of 4', async (_h, fast) => {
      const savedFast = fastGeluSwitch.fast;
      fastGeluSwitch.fast = fast;
      try {
        await expectGeluMatches(path.enabled);
      } finally {
        fastGeluSwitch.fast = savedFast;
      }
    });
  },
);

/** The GELU op on wasm against the composed ops on cpu, value and gradient. */
async function expectGeluMatches(fused: boolean): Promise<void> {
  const rng = new Rng(23);
  const x = randomHostTensor(rng, [3, 5, 7, 6]);
  x.values.forEach((v, i) => (x.values[i] = v * (i % 9 === 0 ? 12 : 2)));
  x.values[0] = 40; // e^{2u} past float range: tanh must saturate, not overflow
  x.values[1] = -40;
  await tf.setBackend('wasm');
  const probe = tf.tidy(() => fusedGelu(tf.ones([5]))?.shape);
  expect(probe).toEqual(fused ? [5] : undefined); // the fused path is the one tested
  await expectSameForward((t) => gelu(t), [x]);
  await expectSameGradients((t) => gelu(t), [x], rng);
}

describe('wasm Slice (strided run copies) matches cpu', () => {
  const cases: [string, number[], number[], number[]][] = [
    ['channels 0–2 of 4 (the SSL loss intensities)', [3, 5, 6, 4], [0, 0, 0, 0], [-1, -1, -1, 3]],
    ['channel 3 of 4 (the tumour mask)', [3, 5, 6, 4], [0, 0, 0, 3], [-1, -1, -1, 1]],
    ['a window in the middle axes, whole channels (long runs)', [2, 9, 8, 40], [1, 2, 3, 0], [1, 5, 4, -1]],
    ['every axis partial, rank 5', [2, 3, 4, 5, 6], [1, 0, 1, 2, 1], [1, 3, 2, 3, 4]],
    ['rank 2, rows of a matrix from an offset column', [7, 11], [2, 3], [4, 5]],
    ['a long channel window of every pixel (fixed stride, long runs)', [3, 5, 80], [0, 0, 10], [-1, -1, 40]],
    ['a middle axis partial, the first whole (fixed stride, short runs)', [4, 6, 5], [0, 2, 0], [-1, 3, -1]],
  ];
  it.each(cases)('%s', async (_name, shape, begin, size) => {
    const x = randomHostTensor(new Rng(shape.length * 7 + begin[1]), shape);
    await expectSameForward((t) => tf.slice(t, begin, size), [x]);
  });
});

describe('wasm Cast to the same dtype shares the buffer', () => {
  it('keeps the values after the source is disposed, and still converts other dtypes', () => {
    const x = tf.tensor1d([1.5, -2.25, 3]);
    const y = tf.cast(x, 'float32');
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual([1.5, -2.25, 3]);
    const ints = tf.cast(y, 'int32');
    expect(ints.dtype).toBe('int32');
    expect(Array.from(ints.dataSync())).toEqual([1, -2, 3]);
    tf.dispose([y, ints]);
  });
});

describe('registration', () => {
  it('puts every kernel of the registry on the wasm backend (so the checks above test them)', () => {
    expect(WASM_KERNEL_CONFIGS.length).toBe(27);
    expect(new Set(WASM_KERNEL_CONFIGS.map((c) => c.kernelName)).size).toBe(WASM_KERNEL_CONFIGS.length);
    for (const config of WASM_KERNEL_CONFIGS) {
      const registered = tf.getKernel(config.kernelName, 'wasm')?.kernelFunc;
      if ('kernelFunc' in config) expect(registered).toBe(config.kernelFunc);
      // A wrapper is the anonymous closure its `wrap` returns; wasm's own kernels are named
      // functions (e.g. batchMatMul), so a name means the original is still registered.
      else expect(registered?.name).toBe('');
    }
  });
});

describe('replacement kernels free their intermediates', () => {
  it('leaves no wasm memory behind after a conv gradient', async () => {
    const rng = new Rng(3);
    const x = randomHostTensor(rng, [2, 9, 9, 3]);
    const w = randomHostTensor(rng, [3, 3, 3, 4]);
    const f = (a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same');
    const dy = randomHostTensor(rng, [2, 5, 5, 4]);
    await gradientsOn('wasm', f, [x, w], dy);
    const before = tf.engine().findBackend('wasm')!.numDataIds();
    await gradientsOn('wasm', f, [x, w], dy);
    expect(tf.engine().findBackend('wasm')!.numDataIds()).toBe(before);
  });
});

describe('every pHCC-SSL layer type trains on wasm with the gradients cpu computes', () => {
  // The second shape reaches the SIMD depthwise kernels' four-pixel blocks and 16-channel
  // filter-gradient steps, which an 8×8, 4-channel map never enters.
  it.each([
    ['8×8, 4 channels', { batch: 2, size: 8, inChannels: 3, channels: 4, heads: 2, phases: 3 }],
    ['16×16, 16 channels', { batch: 2, size: 16, inChannels: 3, channels: 16, heads: 2, phases: 3 }],
  ])(
    'layer zoo: conv, depthwise 7×7, LayerNorm, GELU, GRN, dense, stride-2 conv, gather, attention, BCE (%s)',
    async (_name, shape) => {
      const xShape = [shape.batch, shape.size, shape.size, shape.inChannels];
      const params = layerZooParams(shape, 9);
      const names = Object.keys(params);
      const rng = new Rng(19);
      const x = randomHostTensor(rng, xShape);
      const y = { shape: [shape.batch], values: new Float32Array([1, 0]) };
      const lossOf = (...ps: tf.Tensor[]) => {
        const named = Object.fromEntries(names.map((n, i) => [n, ps[i]]));
        return layerZooLoss(
          shape,
          named,
          tf.tensor4d(x.values, xShape as [number, number, number, number]),
          tf.tensor1d([0, 2, 1], 'int32'),
          tf.tensor(y.values, y.shape),
        );
      };
      const inputs = names.map((n) => params[n]);
      const dy = { shape: [], values: new Float32Array([1]) };
      const wasm = await gradientsOn('wasm', lossOf, inputs, dy);
      const cpu = await gradientsOn('cpu', lossOf, inputs, dy);
      names.forEach((_name, i) => {
        expect(maxRelativeError(wasm[i], cpu[i])).toBeLessThanOrEqual(TOLERANCE);
      });
    },
  );
});
