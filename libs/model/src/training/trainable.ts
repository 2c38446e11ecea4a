import * as tf from '@tensorflow/tfjs-core';
import { extname, join } from 'node:path';
import type { TrainableModel } from '../../../compute/src';
import { ModelConfig } from '../network/config';
import { MaskPyramid } from '../network/mask';
import { PhccModel } from '../network/model';
import { balancedBce, ClassWeights, DEFAULT_SSL_WEIGHTING, SslWeighting, sslLoss } from './losses';
import { trainableParts } from './steps';

/**
 * pHCC-SSL behind the backend module's `TrainableModel` contract, so its worker data-parallel
 * trainer can run either stage. Plain-JSON config (it crosses a worker boundary); every replica
 * builds identical weights from `seed`, then receives the current ones from the trainer.
 *
 * Batches: SSL `{ images: [N, S, S, C], mask: [N, G, G] }`; fine-tune
 * `{ patients: [B, T, S, S, C], labels: [B] }`. Both losses are means over samples, with one
 * caveat: SSL's hard-sample weights (γ > 0) are normalised within each shard rather than the
 * whole batch, so a sharded step differs slightly from a single-process one (exact for γ = 0).
 *
 * Training pHCC-SSL itself goes through `ShardedStepper` (parallel.ts) instead: the model's own
 * AdamW, exact γ weighting. This adapter serves the generic trainer and its benchmarks.
 */
export interface PhccTrainableConfig {
  model: Partial<ModelConfig>;
  seed: number;
  stage: 'ssl' | 'finetune';
  weighting?: SslWeighting;
  classWeights?: ClassWeights;
  freezeEncoder?: boolean;
}

export function createPhccTrainable(config: PhccTrainableConfig): TrainableModel & { model: PhccModel } {
  const model = PhccModel.create(config.model, config.seed);
  const variables = model.params.variables({ parts: trainableParts(config.stage, config.freezeEncoder) });
  const weighting = config.weighting ?? DEFAULT_SSL_WEIGHTING;
  const classWeights = config.classWeights ?? { positive: 1, negative: 1 };
  return {
    model,
    variables,
    loss(batch: Record<string, tf.Tensor>): tf.Scalar {
      if (config.stage === 'ssl') {
        const mask = new MaskPyramid(batch.mask as tf.Tensor3D);
        try {
          return sslLoss(model, batch.images as tf.Tensor4D, mask, weighting).loss;
        } finally {
          mask.dispose();
        }
      }
      return balancedBce(
        model.logits(batch.patients as tf.Tensor5D, batch.dynamicScale as tf.Tensor2D | undefined),
        batch.labels as tf.Tensor1D,
        classWeights,
      );
    },
    dispose: () => model.dispose(),
  };
}

/** The factory name the worker trainer looks up in this module (`ModelSpec.exportName` default). */
export const createTrainable = createPhccTrainable;

/** This file's path as the running build has it (.ts under ts-jest, .js in dist). */
export function phccTrainableModulePath(): string {
  return join(__dirname, 'trainable' + extname(__filename));
}
