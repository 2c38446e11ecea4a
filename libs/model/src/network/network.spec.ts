import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../../common/src';
import { initBackend } from '../../../compute/src';
import { countFlops } from './flops';
import { MaskPyramid, keepMapAt, randomPatchMask } from './mask';
import { PhccModel } from './model';
import { modelConfig } from './config';
import { regionPoolingWeights } from './head';
import { decodeWeights, encodeWeights } from '../codec';
import { TINY } from '../__tests__/tiny-config';

beforeAll(async () => {
  // wasm: the pure-JS cpu backend's broadcasting ops make a tiny training step ~30× slower.
  await initBackend({ backend: 'wasm' });
});

function randomImages(rng: Rng, shape: number[]): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Float32Array.from({ length: size }, () => rng.normal()),
    shape,
  );
}

describe('PhccModel (full size)', () => {
  it('produces the documented output shapes', () => {
    // One phase image through encoder and decoder; the head on features of one patient's 6 phases
    // (a full 6-phase encoder pass costs ~10 s on the pure-JS cpu backend).
    const model = PhccModel.create({}, 1);
    const image = randomImages(new Rng(1), [1, 64, 64, 4]) as tf.Tensor4D;
    expect(model.encode(image).shape).toEqual([1, 8, 8, 256]);
    const mask = new MaskPyramid(tf.tensor3d(randomPatchMask(new Rng(2), 1, 8, 0.6), [1, 8, 8]));
    expect(model.reconstruct(image, mask).shape).toEqual([1, 8, 8, 8 * 8 * 3]);
    const logits = model.logitsFromFeatures(
      randomImages(new Rng(3), [6, 8, 8, 256]) as tf.Tensor4D,
      randomImages(new Rng(4), [6, 64, 64, 4]) as tf.Tensor4D,
    );
    expect(logits.shape).toEqual([1]);
    expect(Number.isFinite(logits.dataSync()[0])).toBe(true);
    expect(() => model.flattenPhases(tf.zeros([1, 5, 64, 64, 4]) as tf.Tensor5D)).toThrow(/does not match/);
    mask.dispose();
    model.dispose();
  });

  it('names every weight stably and splits them into parts', () => {
    const model = PhccModel.create({}, 1);
    const names = model.params.names();
    expect(names).toContain('encoder/stem/conv/kernel');
    expect(names).toContain('encoder/stage1/block0/dwconv/kernel');
    expect(names).toContain('encoder/stage3/block1/grn/gamma');
    expect(names).toContain('encoder/stage4/down/proj/kernel');
    expect(names).toContain('decoder/mask_token');
    expect(names).toContain('head/attn0/q/kernel');
    expect(names).toContain('head/phase_embedding');
    expect(model.params.info('encoder/stage1/block0/grn/gamma').isNorm).toBe(true);
    expect(model.params.info('encoder/stage1/block0/pwconv1/kernel').isNorm).toBe(false);
    const encoder = model.params.names({ parts: ['encoder'] });
    expect(encoder.every((n) => n.startsWith('encoder/'))).toBe(true);
    const noNorm = model.params.names({ excludeNorm: true });
    expect(noNorm.some((n) => /norm|grn/.test(n) && /gamma|beta/.test(n))).toBe(false);
    expect(model.params.count()).toBeGreaterThan(500_000);
    model.dispose();
  });

  it('counts forward FLOPs within the CPU budget', () => {
    const flops = countFlops(modelConfig());
    // ~85 MFLOP per 64×64 image: the budget arithmetic of docs/MODEL.md.
    expect(2 * flops.encoderMacs).toBeGreaterThan(5e7);
    expect(2 * flops.encoderMacs).toBeLessThan(1.5e8);
    const summed = flops.byLayer.filter((l) => l.name.startsWith('encoder/')).reduce((a, l) => a + l.macs, 0);
    expect(summed).toBe(flops.encoderMacs);
  });
});

describe('initialisation and weights', () => {
  it('is identical for a seed and differs across seeds', () => {
    const a = PhccModel.create(TINY, 7);
    const b = PhccModel.create(TINY, 7);
    const c = PhccModel.create(TINY, 8);
    const wa = a.params.getWeights();
    expect(b.params.getWeights()).toEqual(wa);
    expect(c.params.getWeights()).not.toEqual(wa);
    [a, b, c].forEach((m) => m.dispose());
  });

  it('round-trips weights by part and rejects bad shapes and names', () => {
    const a = PhccModel.create(TINY, 1);
    const b = PhccModel.create(TINY, 2);
    b.params.setWeights(a.params.getWeights({ parts: ['encoder'] }), { parts: ['encoder'] });
    expect(b.params.getWeights({ parts: ['encoder'] })).toEqual(a.params.getWeights({ parts: ['encoder'] }));
    expect(b.params.getWeights({ parts: ['head'] })).not.toEqual(a.params.getWeights({ parts: ['head'] }));

    const weights = a.params.getWeights();
    const bad = weights.map((w, i) => (i === 0 ? { ...w, shape: [1, ...w.shape] } : w));
    expect(() => b.params.setWeights(bad)).toThrow(/encoder\/stem\/conv\/kernel has shape/);
    expect(() => b.params.setWeights(weights.slice(1))).toThrow(/missing/);
    expect(() =>
      b.params.setWeights([...weights, { name: 'head/extra', shape: [1], values: new Float32Array(1) }]),
    ).toThrow(/unknown parameter head\/extra/);
    // Nothing was changed by the rejected calls.
    expect(b.params.getWeights({ parts: ['head'] })).not.toEqual(a.params.getWeights({ parts: ['head'] }));
    a.dispose();
    b.dispose();
  });
});

describe('weights through the codec', () => {
  it('round-trips a part through encodeWeights/decodeWeights by name', () => {
    const a = PhccModel.create(TINY, 1);
    const b = PhccModel.create(TINY, 2);
    const buffer = encodeWeights(a.params.getWeights({ parts: ['encoder'], excludeNorm: true }));
    b.params.setWeights(decodeWeights(buffer), { parts: ['encoder'], excludeNorm: true });
    expect(b.params.getWeights({ parts: ['encoder'], excludeNorm: true })).toEqual(
      a.params.getWeights({ parts: ['encoder'], excludeNorm: true }),
    );
    // FedBN: the normalisation parameters stayed local.
    expect(b.params.getWeights({ parts: ['encoder'] }).find((w) => w.name.endsWith('grn/gamma'))).toEqual(
      PhccModel.create(TINY, 2)
        .params.getWeights({ parts: ['encoder'] })
        .find((w) => w.name.endsWith('grn/gamma')),
    );
    a.dispose();
    b.dispose();
  });
});

describe('SSL masking', () => {
  it('masks exactly the configured fraction of patches, differently per sample', () => {
    const mask = randomPatchMask(new Rng(3), 4, 8, 0.6);
    for (let b = 0; b < 4; b++) {
      const sample = mask.subarray(b * 64, (b + 1) * 64);
      expect(sample.reduce((s, v) => s + v, 0)).toBe(Math.round(0.6 * 64));
    }
    expect(Array.from(mask.subarray(0, 64))).not.toEqual(Array.from(mask.subarray(64, 128)));
  });

  it('keeps masked pixels out of visible features', () => {
    const model = PhccModel.create(TINY, 3);
    const grid = model.grid; // 8
    const rng = new Rng(4);
    const maskValues = randomPatchMask(rng, 2, grid, 0.6);
    const mask = new MaskPyramid(tf.tensor3d(maskValues, [2, grid, grid]));
    const images = randomImages(rng, [2, 32, 32, 4]) as tf.Tensor4D;
    // Replace every masked patch's pixels with large noise.
    const keepPixels = mask.keep(32);
    const noise = tf.mul(randomImages(rng, [2, 32, 32, 4]), 50);
    const altered = tf.add(tf.mul(images, keepPixels), tf.mul(noise, tf.sub(1, keepPixels))) as tf.Tensor4D;
    const f1 = model.encode(images, mask);
    const f2 = model.encode(altered, mask);
    const keepGrid = mask.keep(grid);
    const visible1 = tf.mul(f1, keepGrid);
    const visible2 = tf.mul(f2, keepGrid);
    expect(tf.max(tf.abs(tf.sub(visible1, visible2))).dataSync()[0]).toBeLessThan(1e-5);
    // Unmasked encoding does see the change (the test can fail).
    const u1 = model.encode(images);
    const u2 = model.encode(altered);
    expect(tf.max(tf.abs(tf.sub(tf.mul(u1, keepGrid), tf.mul(u2, keepGrid)))).dataSync()[0]).toBeGreaterThan(
      1e-2,
    );
    mask.dispose();
    model.dispose();
  });
});

describe('keep maps', () => {
  it('tile each patch cell into a block, as the tensor form (1 − mask, tiled) does', () => {
    const rng = new Rng(6);
    const values = randomPatchMask(rng, 3, 4, 0.5).map((v, i) => (i % 7 === 0 ? 0.25 : v)); // soft values too
    const mask = tf.tensor3d(values, [3, 4, 4]);
    for (const resolution of [4, 8, 12]) {
      const factor = resolution / 4;
      const tiled = tf.reshape(
        tf.tile(tf.reshape(tf.sub(1, mask), [3, 4, 1, 4, 1, 1]), [1, 1, factor, 1, factor, 1]),
        [3, resolution, resolution, 1],
      );
      const keep = keepMapAt(mask, resolution);
      expect(keep.shape).toEqual([3, resolution, resolution, 1]);
      expect(Array.from(keep.dataSync())).toEqual(Array.from(tiled.dataSync()));
    }
    expect(() => keepMapAt(mask, 6)).toThrow(/6 is not a multiple of the patch grid 4/);
  });

  it('count the rows every sample keeps, and only when all samples keep as many', () => {
    const equal = new MaskPyramid(tf.tensor3d(randomPatchMask(new Rng(8), 3, 4, 0.75), [3, 4, 4]));
    expect(equal.keptRowsPerSample(4)).toBe(4);
    expect(equal.keptRowsPerSample(16)).toBe(4 * 16);
    const uneven = Float32Array.from(randomPatchMask(new Rng(8), 2, 4, 0.75));
    uneven[uneven.indexOf(1)] = 0; // the first sample keeps one more cell
    expect(new MaskPyramid(tf.tensor3d(uneven, [2, 4, 4])).keptRowsPerSample(4)).toBeUndefined();
    const soft = Float32Array.from(randomPatchMask(new Rng(8), 2, 4, 0.75)).map((v) => v * 0.5);
    expect(new MaskPyramid(tf.tensor3d(soft, [2, 4, 4])).keptRowsPerSample(4)).toBeUndefined();
  });
});

describe('region token pooling', () => {
  // 64×64 crop, 8×8 grid of 8-pixel cells; tumour = pixels [16, 32) × [16, 32) = cells (2..3, 2..3).
  const config = modelConfig({});
  const image = (): tf.Tensor4D => {
    const x = new Float32Array(64 * 64 * 4);
    for (let y = 16; y < 32; y++) for (let c = 16; c < 32; c++) x[(y * 64 + c) * 4 + 3] = 1;
    return tf.tensor4d(x, [1, 64, 64, 4]);
  };

  it('weights the tumour cells, a rim around them and the whole crop, each summing to 1', () => {
    const weights = regionPoolingWeights(config, image()); // [1, 64, 3]
    expect(weights.shape).toEqual([1, 64, 3]);
    const w = weights.arraySync()[0];
    const cell = (r: number, c: number) => w[r * 8 + c];
    for (let k = 0; k < 3; k++) expect(w.reduce((sum, row) => sum + row[k], 0)).toBeCloseTo(1, 5);
    // Tumour: a quarter each in the four cells it covers, nothing elsewhere.
    [cell(2, 2), cell(2, 3), cell(3, 2), cell(3, 3)].forEach((v) => expect(v[0]).toBeCloseTo(0.25, 5));
    expect(cell(0, 0)[0]).toBe(0);
    // Rim (dilation by 4 px): in the neighbouring cells, not inside the tumour nor far away.
    expect(cell(1, 2)[1]).toBeGreaterThan(0);
    expect(cell(4, 4)[1]).toBeGreaterThan(0);
    expect(cell(2, 2)[1]).toBe(0);
    expect(cell(6, 6)[1]).toBe(0);
    expect(cell(7, 0)[2]).toBeCloseTo(1 / 64, 6);
  });

  it('dilates the mask for the rim as one square max filter would', () => {
    // The rim comes from a row then a column max filter; a square 9×9 filter is the definition.
    const rng = new Rng(7);
    const images = tf.tensor4d(
      Float32Array.from({ length: 2 * 64 * 64 * 4 }, () => Math.max(0, rng.normal())),
      [2, 64, 64, 4],
    );
    const mask = tf.clipByValue(tf.slice(images, [0, 0, 0, 3], [-1, -1, -1, 1]), 0, 1) as tf.Tensor4D;
    const rim = tf.sub(tf.maxPool(mask, 9, 1, 'same'), mask);
    const down = (m: tf.Tensor) => tf.reshape(tf.avgPool(m as tf.Tensor4D, 8, 8, 'valid'), [2, 64, 1]);
    const maps = tf.concat([down(mask), down(rim), tf.ones([2, 64, 1])], 2);
    const expected = tf.div(maps, tf.add(tf.sum(maps, 1, true), 1e-6));
    expect(Array.from(regionPoolingWeights(config, images).dataSync())).toEqual(
      Array.from(expected.dataSync()),
    );
  });

  it('makes the token see what happens in the tumour, not only the crop mean', () => {
    // Two feature maps with the same mean over the crop, differing inside the tumour: global
    // pooling cannot tell them apart, region pooling can.
    const a = new Float32Array(64).fill(1);
    const b = new Float32Array(64).fill(1);
    b[2 * 8 + 2] = 5; // tumour cell up …
    b[7 * 8 + 7] = -3; // … a far background cell down by the same amount
    const pooled = (values: Float32Array) =>
      tf
        .matMul(regionPoolingWeights(config, image()), tf.tensor3d(values, [1, 64, 1]), true, false)
        .dataSync();
    const [ta, , ga] = pooled(a);
    const [tb, , gb] = pooled(b);
    expect(gb).toBeCloseTo(ga, 6);
    expect(tb - ta).toBeCloseTo(1, 5);
  });

  it('gives logits through the full model and refuses regions without a mask channel', () => {
    const model = PhccModel.create(TINY, 1);
    const patients = randomImages(new Rng(5), [2, TINY.phases, 32, 32, 4]) as tf.Tensor5D;
    expect(model.logits(patients).shape).toEqual([2]);
    model.dispose();
    expect(() => modelConfig({ maskChannel: -1, inChannels: 3 })).toThrow(/needs a mask channel/);
    expect(() => modelConfig({ tokenPooling: 'max' as never })).toThrow(/tokenPooling must be/);
  });
});
