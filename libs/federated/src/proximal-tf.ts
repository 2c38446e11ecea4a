import * as tf from '@tensorflow/tfjs-core';
import { InputError } from '../../common/src';

/** A trainable tensor and the global value it started the round from. */
export interface ProximalPair {
  param: tf.Tensor;
  global: tf.Tensor;
}

/**
 * FedProx's proximal term as a tfjs scalar, (μ/2)·Σ‖w − w_global‖², to add to the local loss
 * inside the function given to `tf.variableGrads` / `optimizer.minimize`. Written as one custom
 * gradient op whose gradient is exactly μ·(w − w_global): it needs no registered gradients of
 * its own (tfjs-core's CommonJS bundle ships none), and it recomputes w − w_global on the
 * backward pass rather than keeping a copy of the model alive. Globals are constants: keep them
 * as non-trainable tensors for the whole round.
 */
export function proximalLoss(pairs: readonly ProximalPair[], mu: number): tf.Scalar {
  if (!(mu >= 0) || !Number.isFinite(mu)) {
    throw new InputError(`proximal mu must be a finite number ≥ 0 (got ${mu})`);
  }
  if (mu === 0 || pairs.length === 0) return tf.scalar(0);
  const globals = pairs.map((p) => p.global);
  const term = tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = inputs.pop() as tf.GradSaveFunc;
    const params = inputs as tf.Tensor[];
    // Save the inputs, not the differences: tfjs keeps saved tensors alive, and inputs already are.
    save(params);
    const value = tf.tidy(() =>
      tf.mul(tf.addN(params.map((param, i) => tf.sum(tf.squaredDifference(param, globals[i])))), mu / 2),
    ) as tf.Scalar;
    return {
      value,
      gradFunc: (dy: tf.Scalar, saved: tf.Tensor[]) =>
        saved.map((param, i) => tf.tidy(() => tf.mul(dy, tf.mul(tf.sub(param, globals[i]), mu)))),
    };
  });
  return term(...pairs.map((p) => p.param));
}
