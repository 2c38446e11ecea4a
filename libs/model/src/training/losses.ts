import * as tf from '@tensorflow/tfjs-core';
import { patchify } from '../network/decoder';
import { MaskPyramid } from '../network/mask';
import { PhccModel } from '../network/model';

/**
 * The sample-weighted FCMAE objective (docs/MODEL.md § "SSL loss weighting").
 *
 * Per patch p of image i: e_ip = mean squared error between the prediction and the per-patch
 * normalised target. Patch weight w_ip = 1 + α · (fraction of p inside the tumour mask), so the
 * encoder spends its capacity on the lesion that carries the diagnosis rather than on liver
 * parenchyma. Per-image loss L_i = Σ_p m_ip w_ip e_ip / Σ_p m_ip w_ip over masked patches only.
 * Sample weight s_i = L_i^γ / mean_j L_j^γ, computed on detached values: images the encoder still
 * reconstructs poorly (rare appearances, minority scanners) get more of the gradient. α = γ = 0 is
 * plain FCMAE.
 */
export interface SslWeighting {
  /** α: extra weight for a patch fully inside the tumour (0 = none). */
  tumourWeight: number;
  /** γ: exponent of the hard-sample emphasis (0 = every image weighs the same). */
  hardnessExponent: number;
}

// The default α and γ live in defaults.ts, which loads no TensorFlow.js.
export { DEFAULT_SSL_WEIGHTING } from './defaults';
export const PLAIN_FCMAE: Readonly<SslWeighting> = Object.freeze({ tumourWeight: 0, hardnessExponent: 0 });

/** Per-patch normalisation of the target, as MAE's norm_pix_loss: mean 0, variance 1 per patch. */
export function normalisedPatchTargets(patches: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(patches, -1, true);
    return tf.div(tf.sub(patches, mean), tf.sqrt(tf.add(variance, 1e-6))) as tf.Tensor4D;
  });
}

export interface SslLossParts {
  loss: tf.Scalar;
  /** Detached per-image reconstruction losses L_i (before sample weighting). */
  perImage: Float32Array;
}

/**
 * Must run inside a gradient tape (tf.variableGrads); the sample weights are read back and
 * re-created as constants, which is how the weighting stays out of the gradient.
 */
export function sslLoss(
  model: PhccModel,
  images: tf.Tensor4D,
  mask: MaskPyramid,
  weighting: SslWeighting,
): SslLossParts {
  const { config } = model;
  let perImage: Float32Array = new Float32Array(0);
  const loss = tf.tidy(() => {
    const prediction = model.reconstruct(images, mask);
    const intensities = tf.slice(images, [0, 0, 0, 0], [-1, -1, -1, config.intensityChannels]) as tf.Tensor4D;
    const target = normalisedPatchTargets(patchify(intensities, config.patchSize));
    const patchError = tf.mean(tf.squaredDifference(prediction, target), -1); // [N, G, G]
    let patchWeight: tf.Tensor = mask.mask; // masked patches only
    if (weighting.tumourWeight > 0 && config.maskChannel >= 0) {
      const tumour = tf.slice(images, [0, 0, 0, config.maskChannel], [-1, -1, -1, 1]) as tf.Tensor4D;
      const fraction = tf.squeeze(tf.avgPool(tumour, config.patchSize, config.patchSize, 'valid'), [3]);
      patchWeight = tf.mul(
        patchWeight,
        tf.add(1, tf.mul(tf.clipByValue(fraction, 0, 1), weighting.tumourWeight)),
      );
    }
    const weightSum = tf.maximum(tf.sum(patchWeight, [1, 2]), 1e-6);
    const imageLoss = tf.div(tf.sum(tf.mul(patchError, patchWeight), [1, 2]), weightSum); // [N]
    perImage = Float32Array.from(imageLoss.dataSync());
    const sampleWeights = tf.tensor1d(hardnessWeights(perImage, weighting.hardnessExponent));
    return tf.mean(tf.mul(imageLoss, sampleWeights)) as tf.Scalar;
  });
  return { loss, perImage };
}

/** s_i = L_i^γ normalised to mean 1 over the batch (all ones when γ = 0). */
export function hardnessWeights(perImage: Float32Array, exponent: number): Float32Array {
  const weights = new Float32Array(perImage.length).fill(1);
  if (exponent === 0 || perImage.length === 0) return weights;
  let sum = 0;
  for (let i = 0; i < perImage.length; i++) {
    weights[i] = Math.max(perImage[i], 0) ** exponent;
    sum += weights[i];
  }
  const mean = sum / perImage.length;
  if (!(mean > 0) || !Number.isFinite(mean)) return weights.fill(1);
  for (let i = 0; i < weights.length; i++) weights[i] /= mean;
  return weights;
}

/** Per-class loss weights; `balancedClassWeights` gives the usual n / (2 · n_class). */
export interface ClassWeights {
  positive: number;
  negative: number;
}

/**
 * sklearn's "balanced" weights: each class contributes half the loss, and the mean weight over
 * the training set is exactly 1, so the loss stays a plain mean over samples (what data-parallel
 * sharding needs) with a scale that does not depend on the prevalence.
 */
export function balancedClassWeights(positives: number, negatives: number): ClassWeights {
  const n = positives + negatives;
  return { positive: n / (2 * positives), negative: n / (2 * negatives) };
}

/** Class-weighted binary cross-entropy on logits, averaged over the batch. */
export function balancedBce(logits: tf.Tensor1D, labels: tf.Tensor1D, weights: ClassWeights): tf.Scalar {
  return tf.tidy(() => {
    // −log σ(z) = softplus(−z); −log(1 − σ(z)) = softplus(z): stable for large |z|.
    const posTerm = tf.mul(tf.mul(labels, tf.softplus(tf.neg(logits))), weights.positive);
    const negTerm = tf.mul(tf.mul(tf.sub(1, labels), tf.softplus(logits)), weights.negative);
    return tf.mean(tf.add(posTerm, negTerm)) as tf.Scalar;
  });
}
