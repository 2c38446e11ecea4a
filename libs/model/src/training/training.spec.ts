import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../../common/src';
import { initBackend } from '../../../compute/src';
import { PhccModel } from '../network/model';
import { modelConfig } from '../network/config';
import { randomPatchMask } from '../network/mask';
import { augmentPatient, NO_AUGMENT } from './augment';
import { balancedBce, balancedClassWeights, hardnessWeights, PLAIN_FCMAE } from './losses';
import { predict, trainFinetune, trainSsl } from './loops';
import { AdamW, cosineLr } from './optimizer';
import { applyGradients, computeGradients, sslBatchLoss, sslStep, trainableParts } from './steps';
import { constructedCohort } from './synthetic';
import { TrainProgress } from './types';
import { createPhccTrainable } from './trainable';
import { TINY } from '../__tests__/tiny-config';

const tinyConfig = modelConfig(TINY);
jest.setTimeout(60_000);

beforeAll(async () => {
  // wasm: the pure-JS cpu backend's broadcasting ops make a tiny training step ~30× slower.
  await initBackend({ backend: 'wasm' });
});

/** Runs `f` on the pure-JS cpu backend (bit-reproducible), then returns to wasm. */
async function onCpu(f: () => Promise<void>): Promise<void> {
  await tf.setBackend('cpu');
  try {
    await f();
  } finally {
    await tf.setBackend('wasm');
  }
}

describe('stage 1 (SSL)', () => {
  it('over-fits a tiny set: the loss goes down', async () => {
    const model = PhccModel.create(TINY, 1);
    // Noise-free images: per-patch normalisation would turn flat patches' noise into an
    // irreducible target and hide the learning.
    const cohort = constructedCohort(tinyConfig, { patients: 4, seed: 1, noise: 0 });
    const progress: TrainProgress[] = [];
    const history = await trainSsl(model, cohort, { epochs: 25, batchSize: 2, lr: 3e-3, seed: 1 }, (p) =>
      progress.push(p),
    );
    expect(progress.map((p) => p.globalStep)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(progress.at(-1)).toMatchObject({ stage: 'ssl', epoch: 25, step: 4, totalSteps: 100 });
    expect(progress.every((p) => p.imagesPerSec > 0 && p.etaSec >= 0)).toBe(true);
    expect(history.epochLosses).toHaveLength(25);
    expect(history.steps).toBe(25 * 4);
    const first = history.epochLosses[0];
    const last = history.epochLosses.at(-1) as number;
    // Measured 0.89 × (0.91 → 0.81); a broken gradient path stays at ≈ 1.
    expect(last).toBeLessThan(0.95 * first);
    model.dispose();
  });

  it('is deterministic for a seed (bit-exact on cpu)', async () => {
    const cohort = constructedCohort(tinyConfig, { patients: 2, seed: 2 });
    const run = async (seed: number): Promise<Float32Array[]> => {
      const model = PhccModel.create(TINY, 3);
      await trainSsl(model, cohort, { epochs: 1, batchSize: 2, seed });
      const weights = model.params.getWeights().map((w) => w.values);
      model.dispose();
      return weights;
    };
    await onCpu(async () => {
      const a = await run(5);
      expect(await run(5)).toEqual(a);
      expect(await run(6)).not.toEqual(a);
    });
  });

  it('leaves no tensors behind', async () => {
    const model = PhccModel.create(TINY, 1);
    const cohort = constructedCohort(tinyConfig, { patients: 2, seed: 1 });
    const before = tf.memory().numTensors;
    await trainSsl(model, cohort, { epochs: 1, batchSize: 2, seed: 1 });
    await trainFinetune(model, cohort, { epochs: 1, batchSize: 2, seed: 1 });
    await predict(model, cohort);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('splits a step into compute + apply with the same result', () => {
    const rng = new Rng(4);
    const cohort = constructedCohort(tinyConfig, { patients: 2, seed: 4 });
    const images = new Float32Array(4 * 32 * 32 * 4);
    cohort.forEach((p, i) => images.set(p.x, i * p.x.length));
    const batch = { images, mask: randomPatchMask(rng, 4, 8, 0.6), count: 4 };
    const a = PhccModel.create(TINY, 9);
    const b = PhccModel.create(TINY, 9);
    const optA = new AdamW(a.params);
    const optB = new AdamW(b.params);
    const fused = sslStep(a, optA, batch, PLAIN_FCMAE, 1e-3);
    const { loss, grads } = computeGradients(b, sslBatchLoss(b, batch, PLAIN_FCMAE), trainableParts('ssl'));
    expect(grads.every((g) => g.name.startsWith('encoder/') || g.name.startsWith('decoder/'))).toBe(true);
    applyGradients(b, optB, grads, 1e-3);
    expect(loss).toBeCloseTo(fused.loss, 6);
    const wa = a.params.getWeights();
    const wb = b.params.getWeights();
    wa.forEach((w, i) => {
      expect(wb[i].name).toBe(w.name);
      w.values.forEach((v, j) => expect(Math.abs(v - wb[i].values[j])).toBeLessThan(1e-6));
    });
    // The head is untouched by SSL.
    expect(b.params.getWeights({ parts: ['head'] })).toEqual(
      PhccModel.create(TINY, 9).params.getWeights({ parts: ['head'] }),
    );
    [a, b].forEach((m) => m.dispose());
    optA.dispose();
    optB.dispose();
  });
});

describe('TrainableModel adapter (worker data-parallel trainer)', () => {
  it('gives the same SSL loss as the in-process step', () => {
    const rng = new Rng(8);
    const cohort = constructedCohort(tinyConfig, { patients: 1, seed: 8 });
    const mask = randomPatchMask(rng, 2, 8, 0.6);
    const trainable = createPhccTrainable({ model: TINY, seed: 4, stage: 'ssl', weighting: PLAIN_FCMAE });
    expect(trainable.variables).toHaveLength(
      trainable.model.params.names({ parts: ['encoder', 'decoder'] }).length,
    );
    const loss = trainable.loss({
      images: tf.tensor4d(cohort[0].x, [2, 32, 32, 4]),
      mask: tf.tensor3d(mask, [2, 8, 8]),
    });
    const reference = PhccModel.create(TINY, 4);
    const expected = sslBatchLoss(reference, { images: cohort[0].x, mask, count: 2 }, PLAIN_FCMAE)();
    expect(loss.dataSync()[0]).toBeCloseTo(expected.dataSync()[0], 6);
    trainable.dispose();
    reference.dispose();
  });
});

describe('stage 2 (fine-tune)', () => {
  it('over-fits a tiny labelled set and separates the classes', async () => {
    const model = PhccModel.create(TINY, 2);
    const cohort = constructedCohort(tinyConfig, { patients: 8, seed: 3 });
    const history = await trainFinetune(model, cohort, {
      epochs: 40,
      batchSize: 8,
      lr: 1e-2,
      encoderLrScale: 0.05,
      freezeEncoderEpochs: 5,
      augment: NO_AUGMENT,
      seed: 2,
    });
    // Measured 0.72 × (ln 2 → 0.50); a head that cannot learn stays at ln 2.
    expect(history.epochLosses.at(-1) as number).toBeLessThan(0.8 * history.epochLosses[0]);
    const p = await predict(model, cohort);
    const pos = cohort.map((c, i) => (c.label === 1 ? p[i] : NaN)).filter((v) => !Number.isNaN(v));
    const neg = cohort.map((c, i) => (c.label === 0 ? p[i] : NaN)).filter((v) => !Number.isNaN(v));
    const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
    expect(mean(pos)).toBeGreaterThan(mean(neg) + 0.2);
    model.dispose();
  });

  it('is deterministic for a seed, augmentation included (bit-exact on cpu, 1e-4 on wasm)', async () => {
    const cohort = constructedCohort(tinyConfig, { patients: 2, seed: 5 });
    const run = async (): Promise<Float32Array> => {
      const model = PhccModel.create(TINY, 3);
      await trainFinetune(model, cohort, { epochs: 2, batchSize: 2, seed: 7 });
      const p = await predict(model, cohort);
      model.dispose();
      return p;
    };
    await onCpu(async () => expect(Array.from(await run())).toEqual(Array.from(await run())));
    // wasm (XNNPACK) may pick kernels by buffer alignment: same seed, same result to float noise.
    const a = await run();
    const b = await run();
    a.forEach((v, i) => expect(Math.abs(v - b[i])).toBeLessThan(1e-4));
  });

  it('stops between steps when aborted', async () => {
    const model = PhccModel.create(TINY, 1);
    const cohort = constructedCohort(tinyConfig, { patients: 4, seed: 1 });
    const controller = new AbortController();
    const history = await trainFinetune(
      model,
      cohort,
      { epochs: 5, batchSize: 2, seed: 1, signal: controller.signal },
      (p) => {
        if (p.globalStep === 3) controller.abort();
      },
    );
    expect(history.steps).toBe(3);
    model.dispose();
  });

  it('refuses a training split with one class', async () => {
    const model = PhccModel.create(TINY, 1);
    const cohort = constructedCohort(tinyConfig, { patients: 4, seed: 1 }).map((p) => ({
      ...p,
      label: 1 as const,
    }));
    await expect(trainFinetune(model, cohort, { epochs: 1 })).rejects.toThrow(/both classes/);
    model.dispose();
  });
});

describe('losses, schedule and augmentation', () => {
  it('normalises hard-sample weights to mean 1 and disables them at γ = 0', () => {
    const w = hardnessWeights(Float32Array.from([1, 4, 9, 16]), 0.5);
    expect(Array.from(w).reduce((a, b) => a + b, 0) / 4).toBeCloseTo(1, 6);
    expect(w[3] / w[0]).toBeCloseTo(4, 5);
    expect(Array.from(hardnessWeights(Float32Array.from([1, 4]), 0))).toEqual([1, 1]);
  });

  it('computes class-balanced BCE with mean weight 1 over the training set', () => {
    const weights = balancedClassWeights(1, 3);
    expect(weights.positive).toBeCloseTo(2);
    expect(weights.negative).toBeCloseTo(2 / 3);
    expect((1 * weights.positive + 3 * weights.negative) / 4).toBeCloseTo(1);
    const z = tf.tensor1d([2, -1, 0.5, 0]);
    const y = tf.tensor1d([1, 0, 0, 0]);
    const sp = (v: number): number => Math.log1p(Math.exp(v));
    const expected = (2 * sp(-2) + (2 / 3) * (sp(-1) + sp(0.5) + sp(0))) / 4;
    expect(balancedBce(z, y, weights).dataSync()[0]).toBeCloseTo(expected, 5);
  });

  it('warms up then decays the learning rate', () => {
    const schedule = { baseLr: 1, warmupSteps: 10, totalSteps: 110 };
    expect(cosineLr(0, schedule)).toBeCloseTo(0.1);
    expect(cosineLr(9, schedule)).toBeCloseTo(1);
    expect(cosineLr(60, schedule)).toBeCloseTo(0.505, 2);
    expect(cosineLr(110, schedule)).toBeCloseTo(0.01);
  });

  it('applies one geometry to all phases and the mask, jitter to intensities only', () => {
    const layout = { phases: 2, size: 8, channels: 2, intensityChannels: 1 };
    const x = new Float32Array(2 * 8 * 8 * 2);
    for (let t = 0; t < 2; t++) {
      for (let i = 0; i < 64; i++) {
        x[(t * 64 + i) * 2] = i; // intensity = pixel index
        x[(t * 64 + i) * 2 + 1] = i; // "mask" = same
      }
    }
    const flipOnly = augmentPatient(x, layout, new Rng(1), { ...NO_AUGMENT, flips: true });
    const rotated = augmentPatient(x, layout, new Rng(2), { ...NO_AUGMENT, maxRotationDeg: 10 });
    for (const out of [flipOnly, rotated]) {
      for (let i = 0; i < 64; i++) {
        expect(out[i * 2]).toBeCloseTo(out[(64 + i) * 2], 5); // phase 0 = phase 1
        expect(out[i * 2]).toBeCloseTo(out[i * 2 + 1], 5); // intensity moved like the mask
      }
    }
    expect(Array.from(augmentPatient(x, layout, new Rng(3), NO_AUGMENT))).toEqual(Array.from(x));
    const jittered = augmentPatient(x, layout, new Rng(4), {
      ...NO_AUGMENT,
      intensityScale: 0.2,
      intensityShift: 0.5,
    });
    for (let i = 0; i < 128; i++) expect(jittered[i * 2 + 1]).toBe(x[i * 2 + 1]); // mask channel intact
    expect(jittered.some((v, i) => i % 2 === 0 && v !== x[i])).toBe(true);
  });
});
