import * as tf from '@tensorflow/tfjs-core';
import { extname, join } from 'node:path';
import { Rng } from '../../common/src';
import { HostBatch, TrainableModel } from './trainable';

/**
 * The benchmark's reference CNN: the shape of workload pHCC-SSL's encoder puts on a backend
 * (3×3 convs, stride-2 downsampling, global pooling, a small head) without its extras, so that
 * backends and the PyTorch peer can be compared on the same, analytically counted FLOPs.
 * Downsampling is a stride-2 3×3 conv (not pooling): it exercises the strided backprops.
 */
export interface ReferenceCnnConfig {
  imageSize: number;
  inChannels: number;
  widths: number[];
  classes: number;
  seed: number;
}

export const REFERENCE_CNN: ReferenceCnnConfig = {
  imageSize: 64,
  inChannels: 4,
  widths: [32, 64, 128, 256],
  classes: 2,
  seed: 1,
};

interface ConvLayer {
  kernel: number;
  stride: number;
  inC: number;
  outC: number;
  /** Output side length. */
  out: number;
}

function convLayers(c: ReferenceCnnConfig): ConvLayer[] {
  const layers: ConvLayer[] = [];
  let side = c.imageSize;
  let inC = c.inChannels;
  c.widths.forEach((outC, i) => {
    const stride = i === 0 ? 1 : 2;
    side = Math.ceil(side / stride);
    layers.push({ kernel: 3, stride, inC, outC, out: side });
    inC = outC;
  });
  return layers;
}

/**
 * Forward multiply-adds × 2 for one batch; training counts 3× forward (backward = input
 * gradient + filter gradient, each as costly as the forward), the usual convention.
 */
export function referenceCnnFlops(
  c: ReferenceCnnConfig,
  batch: number,
): { forward: number; training: number } {
  let forward = 0;
  for (const l of convLayers(c)) forward += 2 * batch * l.out * l.out * l.kernel * l.kernel * l.inC * l.outC;
  forward += 2 * batch * c.widths[c.widths.length - 1] * c.classes;
  return { forward, training: 3 * forward };
}

/** He-normal weights from the seeded Rng, so every replica (and every run) starts identical. */
function heNormal(rng: Rng, shape: number[], fanIn: number): tf.Variable {
  const size = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(size);
  const std = Math.sqrt(2 / fanIn);
  for (let i = 0; i < size; i++) values[i] = rng.normal() * std;
  return tf.variable(tf.tensor(values, shape), true);
}

export function createReferenceCnn(config: Partial<ReferenceCnnConfig> = {}): TrainableModel {
  const c = { ...REFERENCE_CNN, ...config };
  const rng = new Rng(c.seed);
  const layers = convLayers(c);
  const filters = layers.map((l) =>
    heNormal(rng, [l.kernel, l.kernel, l.inC, l.outC], l.kernel * l.kernel * l.inC),
  );
  const biases = layers.map((l) => tf.variable(tf.zeros([l.outC]), true));
  const last = c.widths[c.widths.length - 1];
  const dense = heNormal(rng, [last, c.classes], last);
  const denseBias = tf.variable(tf.zeros([c.classes]), true);
  const variables = [...filters, ...biases, dense, denseBias];

  return {
    variables,
    loss(batch) {
      return tf.tidy(() => {
        let h = batch.x as tf.Tensor4D;
        layers.forEach((l, i) => {
          h = tf.relu(
            tf.add(tf.conv2d(h, filters[i] as tf.Tensor4D, l.stride, 'same'), biases[i]),
          ) as tf.Tensor4D;
        });
        const pooled = tf.mean(h, [1, 2]);
        const logits = tf.add(tf.matMul(pooled, dense), denseBias);
        const labels = tf.oneHot(batch.y as tf.Tensor1D, c.classes);
        return tf.neg(tf.mean(tf.sum(tf.mul(labels, tf.logSoftmax(logits)), 1))) as tf.Scalar;
      });
    },
    dispose() {
      tf.dispose(variables);
    },
  };
}

/** What the worker trainer loads: `createTrainable(config)`. */
export const createTrainable = createReferenceCnn;

/** This file's path as the running build has it (.ts under ts-jest, .js in dist). */
export function referenceCnnModulePath(): string {
  return join(__dirname, 'reference-cnn' + extname(__filename));
}

/** A deterministic random batch (images ~ N(0,1), balanced labels) for benchmarks and tests. */
export function randomReferenceBatch(c: ReferenceCnnConfig, batch: number, seed: number): HostBatch {
  const rng = new Rng(seed);
  const n = batch * c.imageSize * c.imageSize * c.inChannels;
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = rng.normal();
  const y = new Int32Array(batch);
  for (let i = 0; i < batch; i++) y[i] = i % c.classes;
  return {
    x: { shape: [batch, c.imageSize, c.imageSize, c.inChannels], dtype: 'float32', values: x },
    y: { shape: [batch], dtype: 'int32', values: y },
  };
}
