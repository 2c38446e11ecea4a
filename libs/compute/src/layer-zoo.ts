import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../common/src';

/**
 * One small network holding every layer type pHCC-SSL trains (ConvNeXt-style encoder block,
 * GRN, GELU, stride-2 downsampling, phase-embedding gather, multi-head self-attention, sigmoid
 * BCE). Not the model: a probe, so tests can check wasm gradients of all of them against cpu in
 * one pass and the benchmark can show which kernels a real block spends its time in.
 */
export interface LayerZooShape {
  batch: number;
  size: number;
  inChannels: number;
  channels: number;
  heads: number;
  phases: number;
}

export type LayerZooParams = Record<string, tf.Tensor>;

export function layerZooParamShapes(s: LayerZooShape): Record<string, number[]> {
  const c = s.channels;
  const d = 2 * c; // channels after the downsample = attention width
  return {
    stem: [3, 3, s.inChannels, c],
    dw: [7, 7, c, 1],
    lnGamma: [c],
    lnBeta: [c],
    pw1: [c, 4 * c],
    grnGamma: [4 * c],
    grnBeta: [4 * c],
    pw2: [4 * c, c],
    down: [2, 2, c, d],
    phaseTable: [s.phases, d],
    wq: [d, d],
    wk: [d, d],
    wv: [d, d],
    wo: [d, d],
    head: [d, 1],
  };
}

export function layerZooParams(
  s: LayerZooShape,
  seed: number,
): Record<string, { shape: number[]; values: Float32Array }> {
  const rng = new Rng(seed);
  const out: Record<string, { shape: number[]; values: Float32Array }> = {};
  for (const [name, shape] of Object.entries(layerZooParamShapes(s))) {
    const size = shape.reduce((a, b) => a * b, 1);
    const fanIn = shape.length > 1 ? shape.slice(0, -1).reduce((a, b) => a * b, 1) : 1;
    const values = new Float32Array(size);
    for (let i = 0; i < size; i++) {
      values[i] = name.endsWith('Gamma') ? 1 + 0.1 * rng.normal() : rng.normal() / Math.sqrt(fanIn);
    }
    out[name] = { shape, values };
  }
  return out;
}

function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-6))), gamma), beta);
}

function gelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
}

/** Global response normalisation (ConvNeXt V2) over H, W per channel. */
function grn(x: tf.Tensor4D, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor {
  const gx = tf.sqrt(tf.add(tf.sum(tf.square(x), [1, 2], true), 1e-12));
  const nx = tf.div(gx, tf.add(tf.mean(gx, -1, true), 1e-6));
  return tf.add(tf.add(tf.mul(gamma, tf.mul(x, nx)), beta), x);
}

export function layerZooLoss(
  s: LayerZooShape,
  p: LayerZooParams,
  x: tf.Tensor4D,
  phaseIds: tf.Tensor1D,
  y: tf.Tensor,
): tf.Scalar {
  return tf.tidy(() => {
    const c = s.channels;
    const d = 2 * c;
    const h0 = tf.conv2d(x, p.stem as tf.Tensor4D, 1, 'same');
    // ConvNeXt block: depthwise 7×7 → LN → pointwise ×4 → GELU → GRN → pointwise → residual.
    let h = tf.depthwiseConv2d(h0, p.dw as tf.Tensor4D, 1, 'same');
    h = layerNorm(h, p.lnGamma, p.lnBeta) as tf.Tensor4D;
    const [b, hh, ww] = h.shape;
    let flat = tf.matMul(tf.reshape(h, [b * hh * ww, c]), p.pw1);
    flat = gelu(flat);
    h = grn(tf.reshape(flat, [b, hh, ww, 4 * c]), p.grnGamma, p.grnBeta) as tf.Tensor4D;
    flat = tf.matMul(tf.reshape(h, [b * hh * ww, 4 * c]), p.pw2);
    const block = tf.add(h0, tf.reshape(flat, [b, hh, ww, c])) as tf.Tensor4D;
    const down = tf.relu(tf.conv2d(block, p.down as tf.Tensor4D, 2, 'valid')) as tf.Tensor4D;
    // Tokens: one per phase (spatial means of a split of the map), plus a learned phase embedding.
    const pooled = tf.mean(down, [1, 2]); // [B, d]
    const tokens = tf.add(tf.expandDims(pooled, 1), tf.expandDims(tf.gather(p.phaseTable, phaseIds), 0)); // [B, T, d]
    const t = s.phases;
    const dh = d / s.heads;
    const split = (m: tf.Tensor) =>
      tf.transpose(
        tf.reshape(tf.matMul(tf.reshape(tokens, [b * t, d]), m), [b, t, s.heads, dh]),
        [0, 2, 1, 3],
      );
    const q = split(p.wq);
    const k = split(p.wk);
    const v = split(p.wv);
    const att = tf.softmax(tf.div(tf.matMul(q, k, false, true), Math.sqrt(dh)));
    const mixed = tf.reshape(tf.transpose(tf.matMul(att, v), [0, 2, 1, 3]), [b * t, d]);
    const attended = tf.reshape(tf.matMul(mixed, p.wo), [b, t, d]);
    const logits = tf.reshape(tf.matMul(tf.mean(attended, 1), p.head), [b]);
    // Sigmoid binary cross-entropy, written stably: max(z,0) − z·y + log(1 + e^−|z|).
    const bce = tf.add(tf.sub(tf.relu(logits), tf.mul(logits, y)), tf.log1p(tf.exp(tf.neg(tf.abs(logits)))));
    return tf.mean(bce) as tf.Scalar;
  });
}
