import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../select';
import {
  createReferenceCnn,
  randomReferenceBatch,
  REFERENCE_CNN,
  referenceCnnModulePath,
} from '../reference-cnn';
import { flattenVariables, toTensors } from '../trainable';
import { DataParallelTrainer, recommendedWorkers } from './data-parallel-trainer';
import { OptimizerSpec } from './protocol';

/** A small CNN keeps each step in milliseconds; the mechanism does not depend on size. */
const config = { ...REFERENCE_CNN, imageSize: 12, widths: [4, 8], seed: 5 };
const optimizer: OptimizerSpec = { kind: 'sgd', learningRate: 0.05 };
const batch = randomReferenceBatch(config, 6, 11);

/** The same step done in this process on the full batch: the reference for the workers. */
async function singleProcessWeights(steps: number): Promise<Float32Array> {
  await initBackend({ backend: 'wasm' });
  const model = createReferenceCnn(config);
  const opt = tf.train.sgd(optimizer.learningRate);
  const tensors = toTensors(batch);
  for (let i = 0; i < steps; i++) opt.minimize(() => model.loss(tensors), true, model.variables)?.dispose();
  const weights = flattenVariables(model.variables);
  model.dispose();
  tf.dispose(Object.values(tensors));
  return weights;
}

function maxRelativeDiff(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

describe('DataParallelTrainer', () => {
  let trainer: DataParallelTrainer;
  beforeAll(async () => {
    trainer = await DataParallelTrainer.start({
      workers: 2,
      model: { modulePath: referenceCnnModulePath(), config },
      optimizer,
    });
  }, 60_000);
  afterAll(async () => {
    await trainer?.close();
  });

  it('starts every replica from the same weights as a single-process model', async () => {
    const [a, b] = await trainer.replicaWeights();
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
    expect(maxRelativeDiff(a, await singleProcessWeights(0))).toBe(0);
  });

  it('makes the same update as one process on the full batch, and replicas stay bit-identical', async () => {
    const steps = 3;
    let loss = NaN;
    for (let i = 0; i < steps; i++) loss = (await trainer.step(batch)).loss;
    expect(Number.isFinite(loss)).toBe(true);
    const [a, b] = await trainer.replicaWeights();
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
    const reference = await singleProcessWeights(steps);
    const initial = await singleProcessWeights(0);
    // The update moved the weights, and the sharded update is the full-batch one (float rounding).
    expect(maxRelativeDiff(reference, initial)).toBeGreaterThan(1e-3);
    expect(maxRelativeDiff(a, reference)).toBeLessThan(1e-5);
  }, 60_000);

  it('rejects a batch smaller than the number of workers', async () => {
    await expect(trainer.step(randomReferenceBatch(config, 1, 1))).rejects.toThrow(/cannot feed 2 workers/);
  });
});

describe('DataParallelTrainer start-up failures', () => {
  it('reports a model module without the factory and leaves no worker running', async () => {
    const err = await DataParallelTrainer.start({
      workers: 1,
      model: { modulePath: referenceCnnModulePath(), exportName: 'noSuchFactory', config },
      optimizer,
    }).catch((e: unknown) => e);
    expect(String(err)).toMatch(/exports no function noSuchFactory/);
  }, 60_000);

  it('rejects a non-positive worker count', async () => {
    await expect(
      DataParallelTrainer.start({
        workers: 0,
        model: { modulePath: referenceCnnModulePath(), config },
        optimizer,
      }),
    ).rejects.toThrow(/positive integer/);
  });
});

describe('recommendedWorkers', () => {
  it('uses one replica on the native backend (it already uses every core) and ≥ 1 elsewhere', () => {
    expect(recommendedWorkers('tensorflow', 64)).toBe(1);
    expect(recommendedWorkers('wasm', 1)).toBe(1);
    expect(recommendedWorkers('wasm', 64)).toBeGreaterThanOrEqual(1);
  });
});
