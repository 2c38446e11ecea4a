import * as tf from '@tensorflow/tfjs-core';
import { readInto } from '../../../compute/src';
import { MaskPyramid } from '../network/mask';
import { PhccModel } from '../network/model';
import { ModelPart } from '../network/params';
import { SslWeighting, sslLoss } from './losses';
import {
  encoderLrScaler,
  FinetuneBatch,
  finetuneBatchLoss,
  FinetuneStepOptions,
  gradientTensors,
  SslBatch,
  trainableParts,
} from './steps';

/**
 * One training step described as plain data (it crosses worker boundaries): what `sslStep` /
 * `finetuneStep` would do with their arguments.
 */
export type StepSpec =
  | { stage: 'ssl'; batch: SslBatch; weighting: SslWeighting }
  | { stage: 'finetune'; batch: FinetuneBatch; options: FinetuneStepOptions };

/** Parameters a step trains, in the store's order (the order flat gradients travel in). */
export function stepParts(spec: StepSpec): ModelPart[] {
  return spec.stage === 'ssl'
    ? trainableParts('ssl')
    : trainableParts('finetune', spec.options.freezeEncoder);
}

/** The optimiser's per-parameter LR multiplier for this step (the fine-tune encoder scale). */
export function stepLrScale(spec: StepSpec): ((name: string) => number) | undefined {
  return spec.stage === 'finetune' ? encoderLrScaler(spec.options.encoderLrScale ?? 1) : undefined;
}

export function stepSize(spec: StepSpec): number {
  return spec.batch.count;
}

/** Samples [begin, end) of the step's batch; everything else is shared. */
export function sliceStep(spec: StepSpec, begin: number, end: number): StepSpec {
  const rows = <T extends Float32Array>(values: T, count: number): Float32Array => {
    const row = values.length / count;
    return values.slice(begin * row, end * row);
  };
  const count = end - begin;
  if (spec.stage === 'ssl') {
    const { images, mask, count: n } = spec.batch;
    return { ...spec, batch: { images: rows(images, n), mask: rows(mask, n), count } };
  }
  const { patients, labels, dynamicScale, count: n } = spec.batch;
  return {
    ...spec,
    batch: {
      patients: rows(patients, n),
      labels: rows(labels, n),
      count,
      ...(dynamicScale ? { dynamicScale: rows(dynamicScale, n) } : {}),
    },
  };
}

export interface ShardGradient {
  /** The shard's loss as the single-process step defines it on the shard alone. */
  loss: number;
  /**
   * The shard's share in the batch gradient: batch gradient = Σ weight_k · g_k / Σ weight_k.
   * Fine-tune (a plain mean over samples): the shard's sample count. SSL: Σ_i L_i^γ over the
   * shard's images, because the hard-sample weights s_i = L_i^γ / mean_batch(L^γ) are normalised
   * by the whole batch; the shard's own normalisation cancels against this weight, so the
   * combination is exact (γ = 0 gives the sample count again).
   */
  weight: number;
  /** Gradient of `loss` per trained parameter, in `stepParts` order. */
  grads: Map<string, Float32Array>;
}

/**
 * Loss, combination weight and gradients of one shard, on this thread's model. With `into`, the
 * gradients are written there one after another in `stepParts` order and returned as views of
 * it (valid until it is written again): a replica reuses one buffer every step.
 */
export function shardGradient(model: PhccModel, spec: StepSpec, into?: Float32Array): ShardGradient {
  const parts = stepParts(spec);
  if (spec.stage === 'finetune') {
    const { loss, grads } = gradientTensors(model, finetuneBatchLoss(model, spec.batch, spec.options), parts);
    return { loss, weight: spec.batch.count, grads: download(grads, into) };
  }
  let perImage: Float32Array = new Float32Array(0);
  const { imageSize: s, inChannels: c } = model.config;
  const g = model.grid;
  const { batch, weighting } = spec;
  const lossFn = (): tf.Scalar => {
    const images = tf.tensor4d(batch.images, [batch.count, s, s, c]);
    const mask = new MaskPyramid(tf.tensor3d(batch.mask, [batch.count, g, g]));
    try {
      const out = sslLoss(model, images, mask, weighting);
      perImage = out.perImage;
      return out.loss;
    } finally {
      mask.dispose();
    }
  };
  const { loss, grads } = gradientTensors(model, lossFn, parts);
  return { loss, weight: hardnessMass(perImage, weighting.hardnessExponent), grads: download(grads, into) };
}

/**
 * Σ_i max(L_i, 0)^γ: the un-normalised hard-sample weights `hardnessWeights` divides by their
 * mean. γ = 0 gives the image count.
 */
export function hardnessMass(perImage: Float32Array, exponent: number): number {
  if (exponent === 0) return perImage.length;
  let sum = 0;
  for (const l of perImage) sum += Math.max(l, 0) ** exponent;
  return sum;
}

/**
 * Weights to combine shards with. When no shard has a positive finite mass, the single-process
 * step falls back to equal sample weights (`hardnessWeights`), and so does this.
 */
export function combinationWeights(shards: readonly { weight: number; count: number }[]): number[] {
  const total = shards.reduce((acc, s) => acc + s.weight, 0);
  if (!(total > 0) || !Number.isFinite(total)) return shards.map((s) => s.count);
  return shards.map((s) => s.weight);
}

function download(grads: Map<string, tf.Tensor>, into?: Float32Array): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  let offset = 0;
  for (const [name, grad] of grads) {
    if (into) {
      readInto(grad, into, offset);
      out.set(name, into.subarray(offset, offset + grad.size));
      offset += grad.size;
    } else {
      out.set(name, grad.dataSync() as Float32Array);
    }
    grad.dispose();
  }
  return out;
}
