import { Rng } from '../../../common/src';
import { initBackend } from '../../../compute/src';
import { modelConfig } from '../network/config';
import { randomPatchMask } from '../network/mask';
import { PhccModel } from '../network/model';
import { NamedArray } from '../../../weights/src';
import { TINY } from '../__tests__/tiny-config';
import { balancedClassWeights, DEFAULT_SSL_WEIGHTING } from './losses';
import { trainFinetune, trainSsl } from './loops';
import { AdamW } from './optimizer';
import { ShardedStepper, weightedSum } from './parallel';
import { shardGradient, sliceStep, StepSpec } from './shard';
import {
  computeGradients,
  finetuneBatchLoss,
  finetuneStep,
  sslBatchLoss,
  sslStep,
  trainableParts,
} from './steps';
import { constructedCohort } from './synthetic';

const config = modelConfig(TINY);
const plane = config.imageSize * config.imageSize * config.inChannels;
jest.setTimeout(60_000);

/**
 * Five phase images (uneven shards: 3 + 2) with the default weighting (γ = 0.5, tumour α = 2).
 * The last image is flat: its per-patch normalised target is 0, so its reconstruction loss is far
 * below the others' and the hard-sample weights really differ between the shards.
 */
function sslSpec(): Extract<StepSpec, { stage: 'ssl' }> {
  const cohort = constructedCohort(config, { patients: 3, seed: 4 });
  const images = new Float32Array(5 * plane);
  for (let k = 0; k < 5; k++)
    images.set(cohort[k >> 1].x.subarray((k % 2) * plane, ((k % 2) + 1) * plane), k * plane);
  images.fill(0, 4 * plane, 5 * plane);
  return {
    stage: 'ssl',
    batch: { images, mask: randomPatchMask(new Rng(5), 5, 8, 0.6), count: 5 },
    weighting: DEFAULT_SSL_WEIGHTING,
  };
}

function finetuneSpec(freezeEncoder: boolean): Extract<StepSpec, { stage: 'finetune' }> {
  const cohort = constructedCohort(config, { patients: 3, seed: 6 });
  const patients = new Float32Array(3 * config.phases * plane);
  cohort.forEach((p, i) => patients.set(p.x, i * p.x.length));
  return {
    stage: 'finetune',
    batch: {
      patients,
      labels: Float32Array.from(cohort.map((p) => p.label as number)),
      count: 3,
      // Phase-timing factors of the dynamic tokens travel with the shards (network/dynamic-time.ts).
      dynamicScale: Float32Array.from([0.5, 1, 2]),
    },
    options: { classWeights: balancedClassWeights(2, 1), freezeEncoder, encoderLrScale: 0.25 },
  };
}

/** max |a − b| over every value, relative to max |b|. */
function relativeDiff(a: ReadonlyMap<string, Float32Array>, b: readonly NamedArray[]): number {
  let diff = 0;
  let scale = 0;
  for (const { name, values } of b) {
    const other = a.get(name) as Float32Array;
    expect(other).toHaveLength(values.length);
    values.forEach((v, i) => {
      diff = Math.max(diff, Math.abs(v - other[i]));
      scale = Math.max(scale, Math.abs(v));
    });
  }
  return diff / scale;
}

function maxWeightDiff(a: PhccModel, b: PhccModel): number {
  const wb = b.params.getWeights();
  let diff = 0;
  a.params
    .getWeights()
    .forEach((w, i) => w.values.forEach((v, j) => (diff = Math.max(diff, Math.abs(v - wb[i].values[j])))));
  return diff;
}

describe('ShardedStepper (main thread + 1 worker replica)', () => {
  let stepper: ShardedStepper;
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
    stepper = await ShardedStepper.start({ replicas: 2, config });
  });
  afterAll(async () => {
    await stepper?.close();
  });

  it('gives the single-process SSL gradient, hard-sample weights (γ > 0) included', async () => {
    const spec = sslSpec();
    const model = PhccModel.create(TINY, 3);
    const single = computeGradients(
      model,
      sslBatchLoss(model, spec.batch, spec.weighting),
      trainableParts('ssl'),
    );
    const sharded = await stepper.gradients(model, spec);
    expect(stepper.timing.computeMs).toHaveLength(2);
    // The worker's phases (#19) add up to its compute time and sit between post and arrival.
    const [w] = stepper.timing.workers;
    expect(stepper.timing.workers).toHaveLength(1);
    expect(w.writeMs + w.gradMs).toBeLessThanOrEqual(stepper.timing.computeMs[1] + 1e-6);
    expect(w.gradMs).toBeGreaterThan(0);
    expect(w.postedAt).toBeLessThanOrEqual(w.receivedAt + 1);
    expect(w.receivedAt).toBeLessThan(w.sentAt);
    expect(w.sentAt).toBeLessThanOrEqual(w.arrivedAt + 1);
    expect(stepper.timing.readWeightsMs).toBeGreaterThanOrEqual(0);
    expect(sharded.loss).toBeCloseTo(single.loss, 5);
    expect(relativeDiff(sharded.grads, single.grads)).toBeLessThan(1e-5);
    // Combining the same shards by sample count (the plain-mean rule) is measurably wrong here.
    const first = shardGradient(model, sliceStep(spec, 0, 3));
    const second = shardGradient(model, sliceStep(spec, 3, 5));
    const byCount = new Map(
      [...first.grads].map(([name, g]) => [
        name,
        g.map((v, i) => 0.6 * v + 0.4 * (second.grads.get(name) as Float32Array)[i]),
      ]),
    );
    expect(relativeDiff(byCount, single.grads)).toBeGreaterThan(1e-3);
    model.dispose();
  });

  it.each([false, true])(
    'gives the single-process fine-tune gradient (encoder frozen: %s)',
    async (frozen) => {
      const spec = finetuneSpec(frozen);
      const model = PhccModel.create(TINY, 7);
      const single = computeGradients(
        model,
        finetuneBatchLoss(model, spec.batch, spec.options),
        trainableParts('finetune', frozen),
      );
      const sharded = await stepper.gradients(model, spec);
      expect([...sharded.grads.keys()]).toEqual(single.grads.map((g) => g.name));
      expect(sharded.loss).toBeCloseTo(single.loss, 5);
      expect(relativeDiff(sharded.grads, single.grads)).toBeLessThan(1e-5);
      model.dispose();
    },
  );

  it('makes the same AdamW step as sslStep / finetuneStep, and replicas follow the new weights', async () => {
    const a = PhccModel.create(TINY, 11);
    const b = PhccModel.create(TINY, 11);
    const optA = new AdamW(a.params);
    const optB = new AdamW(b.params);
    const ssl = sslSpec();
    const ft = finetuneSpec(false);
    const lr = 1e-3;
    for (let i = 0; i < 2; i++) {
      const single = sslStep(a, optA, ssl.batch, ssl.weighting, lr);
      const sharded = await stepper.run(b, ssl, optB, lr);
      expect(sharded.loss).toBeCloseTo(single.loss, 5);
      expect(sharded.gradNorm).toBeCloseTo(single.gradNorm, 4);
    }
    const single = finetuneStep(a, optA, ft.batch, ft.options, lr);
    const sharded = await stepper.run(b, ft, optB, lr);
    expect(sharded.loss).toBeCloseTo(single.loss, 5);
    // Measured 2.2e-7 after three steps. Adam moves a weight by ≈ lr whatever its gradient's size,
    // so one wrongly combined gradient shows up as a difference of order lr = 1e-3.
    expect(maxWeightDiff(a, b)).toBeLessThan(5e-3 * lr);
    [a, b].forEach((m) => m.dispose());
  });

  it('uses fewer replicas when the batch is smaller than their number', async () => {
    const model = PhccModel.create(TINY, 3);
    const spec = sslSpec();
    const one = {
      ...spec,
      batch: { images: spec.batch.images.slice(0, plane), mask: spec.batch.mask.slice(0, 64), count: 1 },
    };
    const single = computeGradients(
      model,
      sslBatchLoss(model, one.batch, one.weighting),
      trainableParts('ssl'),
    );
    const sharded = await stepper.gradients(model, one);
    expect(stepper.timing.computeMs).toHaveLength(1);
    expect(relativeDiff(sharded.grads, single.grads)).toBeLessThan(1e-6);
    model.dispose();
  });

  it('rejects a model of another configuration', async () => {
    const other = PhccModel.create({ ...TINY, dims: [8, 24] }, 1);
    await expect(stepper.gradients(other, sslSpec())).rejects.toThrow(/differs from the one its replicas/);
    other.dispose();
  });

  it('plugs into trainSsl / trainFinetune as their executor', async () => {
    const cohort = constructedCohort(config, { patients: 4, seed: 9 });
    const run = async (executor?: ShardedStepper): Promise<number[]> => {
      const model = PhccModel.create(TINY, 2);
      const ssl = await trainSsl(model, cohort, { epochs: 1, batchSize: 4, seed: 1, executor });
      const ft = await trainFinetune(model, cohort, {
        epochs: 2,
        batchSize: 4,
        seed: 1,
        freezeEncoderEpochs: 1,
        executor,
      });
      model.dispose();
      return [...ssl.epochLosses, ...ft.epochLosses];
    };
    const plain = await run();
    const sharded = await run(stepper);
    expect(sharded).toHaveLength(plain.length);
    sharded.forEach((loss, i) => expect(loss).toBeCloseTo(plain[i], 3));
  });
});

describe('ShardedStepper with worker threads only', () => {
  it('gives the same gradient when the main thread only combines', async () => {
    const stepper = await ShardedStepper.start({ replicas: 2, config, mainComputes: false });
    try {
      const spec = sslSpec();
      const model = PhccModel.create(TINY, 3);
      const single = computeGradients(
        model,
        sslBatchLoss(model, spec.batch, spec.weighting),
        trainableParts('ssl'),
      );
      const sharded = await stepper.gradients(model, spec);
      expect(stepper.timing.computeMs).toHaveLength(2);
      expect(relativeDiff(sharded.grads, single.grads)).toBeLessThan(1e-5);
      // A replica's failure comes back as a rejection naming it (here: images of the wrong size).
      const broken = { ...spec, batch: { ...spec.batch, images: spec.batch.images.slice(1) } };
      await expect(stepper.gradients(model, broken)).rejects.toThrow(/training replica failed: .*shape/);
      await stepper.close();
      await expect(stepper.gradients(model, spec)).rejects.toThrow(/training replica exited/);
      model.dispose();
    } finally {
      await stepper.close();
    }
  });
});

describe('combining shard gradients', () => {
  /** The shard-major form with a float64 accumulator array (before issue #19's one-pass form). */
  function shardMajor(parts: Float32Array[], fractions: number[]): Float32Array {
    const out = new Float32Array(parts[0].length);
    if (parts.length === 1) {
      for (let i = 0; i < out.length; i++) out[i] = fractions[0] * parts[0][i];
      return out;
    }
    const acc = new Float64Array(out.length);
    for (let k = 0; k < parts.length - 1; k++)
      for (let i = 0; i < acc.length; i++) acc[i] += fractions[k] * parts[k][i];
    const last = parts.length - 1;
    for (let i = 0; i < out.length; i++) out[i] = acc[i] + fractions[last] * parts[last][i];
    return out;
  }

  it.each([1, 2, 3, 4])("%i shards: the accumulator form's bits, signed zeros included", (shards) => {
    const rng = new Rng(shards);
    const n = 4099;
    // Every tenth value a zero of either sign, so sums of zeros meet both signs.
    const parts = Array.from({ length: shards }, () =>
      Float32Array.from({ length: n }, (_, i) => (i % 10 === 0 ? (rng.next() < 0.5 ? -0 : 0) : rng.normal())),
    );
    const raw = Array.from({ length: shards }, () => 0.1 + rng.next());
    const fractions = raw.map((r) => r / raw.reduce((a, b) => a + b, 0));
    const got = weightedSum(parts, fractions);
    const want = shardMajor(parts, fractions);
    expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer))).toBe(true);
    // The comparison sees a one-ulp change in one value.
    const bits = new Uint32Array(got.buffer);
    bits[7] ^= 1;
    expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer))).toBe(false);
  });
});

describe('ShardedStepper start-up', () => {
  it('refuses fewer than 2 replicas (1 is the in-process path)', async () => {
    await expect(ShardedStepper.start({ replicas: 1, config })).rejects.toThrow(/≥ 2 replicas/);
  });
});
