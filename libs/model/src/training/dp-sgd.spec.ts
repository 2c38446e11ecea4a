import { InputError, Rng } from '../../../common/src';
import { initBackend } from '../../../compute/src';
import type { NamedArray } from '../../../weights/src';
import { TINY } from '../__tests__/tiny-config';
import { modelConfig } from '../network/config';
import { PhccModel } from '../network/model';
import { dpSgdGradients, DpSgdOptions } from './dp-sgd';
import { balancedClassWeights } from './losses';
import { trainFinetune } from './loops';
import { computeGradients, FinetuneBatch, finetuneBatchLoss, trainableParts } from './steps';
import { constructedCohort } from './synthetic';

const config = modelConfig(TINY);
const parts = trainableParts('finetune');
const options = { classWeights: balancedClassWeights(2, 1) };
jest.setTimeout(60_000);

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

function randomBatch(count: number, seed: number): FinetuneBatch {
  const rng = new Rng(seed);
  const size = config.phases * config.imageSize * config.imageSize * config.inChannels;
  return {
    patients: Float32Array.from({ length: count * size }, () => rng.normal()),
    labels: Float32Array.from({ length: count }, (_, i) => (i % 3 === 0 ? 0 : 1)),
    count,
  };
}

function norm(arrays: readonly NamedArray[]): number {
  let s = 0;
  for (const a of arrays) for (const v of a.values) s += v * v;
  return Math.sqrt(s);
}

function flat(arrays: readonly NamedArray[]): Float64Array {
  return Float64Array.from(arrays.flatMap((a) => Array.from(a.values)));
}

describe('DP-SGD gradients (per-patient clip + noise)', () => {
  let model: PhccModel;
  const batch = randomBatch(3, 1);
  beforeAll(() => {
    model = PhccModel.create(TINY, 5);
  });
  afterAll(() => model.dispose());

  const run = (dp: DpSgdOptions, seed = 1) => dpSgdGradients(model, batch, options, parts, dp, new Rng(seed));

  it('with σ = 0 and a clip no patient reaches, equals the plain batch gradient', () => {
    const plain = computeGradients(model, finetuneBatchLoss(model, batch, options), parts);
    const dp = run({ clip: 1e9, noiseMultiplier: 0 });
    expect(dp.clipped).toBe(0);
    expect(dp.loss).toBeCloseTo(plain.loss, 5);
    expect(dp.grads.map((g) => g.name)).toEqual(plain.grads.map((g) => g.name));
    const a = flat(dp.grads);
    const b = flat(plain.grads);
    let maxDiff = 0;
    for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
    // The gradient is not trivially zero, and the two agree to float32 summation order.
    expect(norm(plain.grads)).toBeGreaterThan(1e-3);
    expect(maxDiff).toBeLessThan(1e-5 * Math.max(...Array.from(b, Math.abs)));
  });

  it('with a small clip every patient is clipped and the step obeys the bound', () => {
    const free = run({ clip: 1e9, noiseMultiplier: 0 });
    const clip = Math.min(...free.exampleNorms) / 10;
    const dp = run({ clip, noiseMultiplier: 0 });
    expect(dp.clipped).toBe(batch.count);
    expect(dp.exampleNorms).toEqual(free.exampleNorms);
    // Each patient contributes exactly `clip`, so the mean is at most `clip` (and not ≈ 0).
    expect(norm(dp.grads)).toBeLessThanOrEqual(clip * (1 + 1e-5));
    expect(norm(dp.grads)).toBeGreaterThan(clip / 10);
    // A batch of one: its clipped gradient has norm `clip` exactly.
    const one = dpSgdGradients(
      model,
      randomBatch(1, 2),
      options,
      parts,
      { clip, noiseMultiplier: 0 },
      new Rng(1),
    );
    expect(one.clipped).toBe(1);
    expect(norm(one.grads)).toBeCloseTo(clip, 6);
  });

  it('adds N(0, (σC)²)/batch, reproducible for a seeded source', () => {
    const clip = 0.01;
    const clean = flat(run({ clip, noiseMultiplier: 0 }).grads);
    const noisyA = flat(run({ clip, noiseMultiplier: 2 }, 7).grads);
    const noisyB = flat(run({ clip, noiseMultiplier: 2 }, 7).grads);
    const other = flat(run({ clip, noiseMultiplier: 2 }, 8).grads);
    expect(noisyA).toEqual(noisyB);
    expect(other).not.toEqual(noisyA);
    // (noisy − clean)·batch / C should be standard normal × σ over the thousands of coordinates.
    const z = Array.from(noisyA, (v, i) => ((v - clean[i]) * batch.count) / clip);
    const mean = z.reduce((s, x) => s + x, 0) / z.length;
    const sd = Math.sqrt(z.reduce((s, x) => s + (x - mean) ** 2, 0) / z.length);
    expect(z.length).toBeGreaterThan(1000);
    expect(Math.abs(mean)).toBeLessThan(0.2);
    expect(sd).toBeGreaterThan(1.9);
    expect(sd).toBeLessThan(2.1);
  });

  it('names a bad setting in a one-line error', () => {
    expect(() => run({ clip: 0, noiseMultiplier: 1 })).toThrow(InputError);
    expect(() => run({ clip: 1, noiseMultiplier: -1 })).toThrow(/noise multiplier/);
  });
});

describe('trainFinetune with dpSgd', () => {
  it('trains, reports what the accountant needs, and is reproducible for a seeded noise source', async () => {
    const cohort = constructedCohort(config, { patients: 8, seed: 3 });
    const train = async () => {
      const model = PhccModel.create(TINY, 4);
      const history = await trainFinetune(model, cohort, {
        epochs: 1,
        batchSize: 2,
        freezeEncoderEpochs: 0,
        seed: 1,
        dpSgd: { clip: 0.5, noiseMultiplier: 1, noise: new Rng(9) },
      });
      const weights = model.params
        .names({ parts })
        .map((n) => Float32Array.from(model.params.get(n).dataSync()));
      model.dispose();
      return { history, weights };
    };
    const a = await train();
    const b = await train();
    expect(a.history.dpSgd).toMatchObject({ clip: 0.5, noiseMultiplier: 1, batchSize: 2 });
    expect(a.history.dpSgd?.trainPatients).toBeGreaterThan(0);
    expect(a.history.dpSgd?.clippedShare).toBeGreaterThanOrEqual(0);
    expect(a.history.steps).toBe(Math.ceil((a.history.dpSgd?.trainPatients ?? 0) / 2));
    expect(a.weights).toEqual(b.weights);
  });
});
