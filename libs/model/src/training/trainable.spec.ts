import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../../common/src';
import {
  DataParallelTrainer,
  flattenVariables,
  HostBatch,
  initBackend,
  toTensors,
} from '../../../compute/src';
import { modelConfig } from '../network/config';
import { randomPatchMask } from '../network/mask';
import { PLAIN_FCMAE } from './losses';
import { constructedCohort } from './synthetic';
import { createPhccTrainable, PhccTrainableConfig, phccTrainableModulePath } from './trainable';
import { TINY } from '../__tests__/tiny-config';

// γ = 0: the SSL loss is then an exact mean over images, so shards add up to the full batch.
const config: PhccTrainableConfig = { model: TINY, seed: 3, stage: 'ssl', weighting: PLAIN_FCMAE };

function sslBatch(): HostBatch {
  const cohort = constructedCohort(modelConfig(TINY), { patients: 2, seed: 4 });
  const images = new Float32Array(4 * 32 * 32 * 4);
  cohort.forEach((p, i) => images.set(p.x, i * p.x.length));
  return {
    images: { shape: [4, 32, 32, 4], dtype: 'float32', values: images },
    mask: { shape: [4, 8, 8], dtype: 'float32', values: randomPatchMask(new Rng(5), 4, 8, 0.6) },
  };
}

it('runs SSL steps in the worker data-parallel trainer like one process', async () => {
  await initBackend({ backend: 'wasm' });
  const batch = sslBatch();
  const trainer = await DataParallelTrainer.start({
    workers: 2,
    model: { modulePath: phccTrainableModulePath(), config },
    optimizer: { kind: 'sgd', learningRate: 0.05 },
  });
  try {
    const { loss } = await trainer.step(batch);
    expect(Number.isFinite(loss)).toBe(true);
    const sharded = await trainer.weights(0);

    const local = createPhccTrainable(config);
    const tensors = toTensors(batch);
    tf.train
      .sgd(0.05)
      .minimize(() => local.loss(tensors), true, local.variables)
      ?.dispose();
    const reference = flattenVariables(local.variables);
    let diff = 0;
    let scale = 0;
    reference.forEach((v, i) => {
      diff = Math.max(diff, Math.abs(v - sharded[i]));
      scale = Math.max(scale, Math.abs(v));
    });
    expect(diff / scale).toBeLessThan(1e-5);
    local.dispose();
    tf.dispose(Object.values(tensors));
  } finally {
    await trainer.close();
  }
}, 60_000);
