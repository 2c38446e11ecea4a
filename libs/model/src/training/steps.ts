import * as tf from '@tensorflow/tfjs-core';
import type { NamedArray } from '../../../weights/src';
import { MaskPyramid } from '../network/mask';
import { PhccModel } from '../network/model';
import { ModelPart } from '../network/params';
import { balancedBce, ClassWeights, SslWeighting, sslLoss } from './losses';
import type { Optimizer } from './optimizer';

/** Single phase images [count, S, S, C] with their SSL patch masks [count, G, G] (1 = masked). */
export interface SslBatch {
  images: Float32Array;
  mask: Float32Array;
  count: number;
}

/** Patients [count, T, S, S, C] with labels 0/1. */
export interface FinetuneBatch {
  patients: Float32Array;
  labels: Float32Array;
  count: number;
  /** [count, T − 1] dynamic-token timing factors (network/dynamic-time.ts); absent = all 1. */
  dynamicScale?: Float32Array;
}

export interface FinetuneLossOptions {
  /** From the training split's class counts (`balancedClassWeights`). */
  classWeights: ClassWeights;
}

/** Which parts a stage trains: SSL never touches the head, fine-tuning never the decoder. */
export function trainableParts(stage: 'ssl' | 'finetune', freezeEncoder = false): ModelPart[] {
  if (stage === 'ssl') return ['encoder', 'decoder'];
  return freezeEncoder ? ['head'] : ['encoder', 'head'];
}

export function sslBatchLoss(model: PhccModel, batch: SslBatch, weighting: SslWeighting): () => tf.Scalar {
  const { imageSize: s, inChannels: c } = model.config;
  const g = model.grid;
  return () => {
    const images = tf.tensor4d(batch.images, [batch.count, s, s, c]);
    const mask = new MaskPyramid(tf.tensor3d(batch.mask, [batch.count, g, g]));
    try {
      return sslLoss(model, images, mask, weighting).loss;
    } finally {
      mask.dispose();
    }
  };
}

export function finetuneBatchLoss(
  model: PhccModel,
  batch: FinetuneBatch,
  options: FinetuneLossOptions,
): () => tf.Scalar {
  const { imageSize: s, inChannels: c, phases: t } = model.config;
  return () => {
    const patients = tf.tensor5d(batch.patients, [batch.count, t, s, s, c]);
    const labels = tf.tensor1d(batch.labels);
    const scale = batch.dynamicScale && tf.tensor2d(batch.dynamicScale, [batch.count, t - 1]);
    return balancedBce(model.logits(patients, scale), labels, options.classWeights);
  };
}

export interface GradientTensors {
  loss: number;
  /** Gradient per trainable parameter name; the caller disposes them. */
  grads: Map<string, tf.Tensor>;
}

/** Loss and gradients w.r.t. the given parts, as tensors (the in-process fast path). */
export function gradientTensors(
  model: PhccModel,
  lossFn: () => tf.Scalar,
  parts: readonly ModelPart[],
): GradientTensors {
  requireGradients();
  const names = model.params.names({ parts });
  const variables = names.map((name) => model.params.get(name));
  const { value, grads } = tf.variableGrads(lossFn, variables);
  const loss = value.dataSync()[0];
  value.dispose();
  const byName = new Map<string, tf.Tensor>();
  names.forEach((name, i) => {
    const grad = grads[variables[i].name];
    // A parameter outside the loss's graph (e.g. an unused embedding) gets a zero gradient.
    byName.set(name, grad ?? tf.zerosLike(variables[i]));
  });
  return { loss, grads: byName };
}

/**
 * "Compute" half of a data-parallel step: gradients downloaded as named arrays, to be averaged
 * across workers and handed to `applyGradients`.
 */
export function computeGradients(
  model: PhccModel,
  lossFn: () => tf.Scalar,
  parts: readonly ModelPart[],
): { loss: number; grads: NamedArray[] } {
  const { loss, grads } = gradientTensors(model, lossFn, parts);
  const arrays: NamedArray[] = [];
  for (const [name, grad] of grads) {
    arrays.push({ name, shape: [...grad.shape], values: Float32Array.from(grad.dataSync()) });
    grad.dispose();
  }
  return { loss, grads: arrays };
}

/** "Apply" half: one optimiser update from (averaged) named gradients. Returns the gradient norm. */
export function applyGradients(
  model: PhccModel,
  optimizer: Optimizer,
  grads: readonly NamedArray[],
  lr: number,
  lrScale?: (name: string) => number,
): number {
  const tensors = new Map<string, tf.Tensor>();
  try {
    for (const grad of grads) {
      const expected = model.params.info(grad.name).shape;
      if (expected.length !== grad.shape.length || expected.some((d, i) => d !== grad.shape[i])) {
        throw new Error(`gradient ${grad.name} has shape [${grad.shape}], parameter is [${expected}]`);
      }
      tensors.set(grad.name, tf.tensor(grad.values, grad.shape, 'float32'));
    }
    return optimizer.apply(tensors, lr, lrScale);
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}

export interface StepResult {
  loss: number;
  gradNorm: number;
}

function step(
  model: PhccModel,
  optimizer: Optimizer,
  lossFn: () => tf.Scalar,
  parts: readonly ModelPart[],
  lr: number,
  lrScale?: (name: string) => number,
): StepResult {
  const { loss, grads } = gradientTensors(model, lossFn, parts);
  try {
    const gradNorm = optimizer.apply(grads, lr, lrScale);
    return { loss, gradNorm };
  } finally {
    for (const g of grads.values()) g.dispose();
  }
}

/** One SSL step (encoder + decoder) on a batch of masked phase images. */
export function sslStep(
  model: PhccModel,
  optimizer: Optimizer,
  batch: SslBatch,
  weighting: SslWeighting,
  lr: number,
): StepResult {
  return step(model, optimizer, sslBatchLoss(model, batch, weighting), trainableParts('ssl'), lr);
}

export interface FinetuneStepOptions extends FinetuneLossOptions {
  /** Train the head only (warm-up on top of SSL features). */
  freezeEncoder?: boolean;
  /** The encoder's learning rate as a fraction of the head's (pre-trained layers move less). */
  encoderLrScale?: number;
}

/** Per-parameter LR multiplier: `scale` for encoder weights, 1 elsewhere. */
export function encoderLrScaler(scale: number): (name: string) => number {
  return (name) => (name.startsWith('encoder/') ? scale : 1);
}

/** One fine-tuning step (encoder + head, or head only while the encoder is frozen). */
export function finetuneStep(
  model: PhccModel,
  optimizer: Optimizer,
  batch: FinetuneBatch,
  options: FinetuneStepOptions,
  lr: number,
): StepResult {
  return step(
    model,
    optimizer,
    finetuneBatchLoss(model, batch, options),
    trainableParts('finetune', options.freezeEncoder),
    lr,
    encoderLrScaler(options.encoderLrScale ?? 1),
  );
}

/**
 * tfjs-core's CommonJS build registers no gradient functions; the backend module's `initBackend`
 * does. Failing here names the fix instead of tfjs's "gradient function not found" deep inside.
 */
function requireGradients(): void {
  if (!tf.getGradient('DepthwiseConv2dNative') || !tf.getGradient('Conv2D')) {
    throw new Error('tfjs gradients are not registered: call initBackend() (libs/compute) before training');
  }
}
