import * as tf from '@tensorflow/tfjs-core';
import { ParamStore } from '../network/params';
import { AdamWOptions, decays } from './optimizer';

/**
 * AdamW written with one tf op per elementwise step, per parameter: the formulation `AdamW` had
 * before it moved to plain JS. Kept as the independent oracle its spec compares against and as
 * the "before" of `phcc-fed bench model`'s optimiser timing; not used for training.
 */
export class TfOpsAdamW {
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly epsilon: number;
  private readonly weightDecay: number;
  private readonly clipNorm: number;
  private readonly moments = new Map<string, { m: tf.Variable; v: tf.Variable; steps: number }>();

  constructor(
    private readonly store: ParamStore,
    options: AdamWOptions = {},
  ) {
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.05;
    this.clipNorm = options.clipNorm ?? 1.0;
  }

  apply(grads: ReadonlyMap<string, tf.Tensor>, lr: number, lrScale?: (name: string) => number): number {
    const names = [...grads.keys()];
    const norm = tf.tidy(() =>
      tf.sqrt(tf.addN(names.map((n) => tf.sum(tf.square(grads.get(n) as tf.Tensor))))),
    );
    const gradNorm = norm.dataSync()[0];
    norm.dispose();
    const scale = this.clipNorm > 0 && gradNorm > this.clipNorm ? this.clipNorm / gradNorm : 1;
    for (const name of names) {
      const param = this.store.get(name);
      const grad = grads.get(name) as tf.Tensor;
      let moments = this.moments.get(name);
      if (!moments) {
        const zeros = tf.zerosLike(param);
        moments = { m: tf.variable(zeros, false), v: tf.variable(zeros, false), steps: 0 };
        zeros.dispose();
        this.moments.set(name, moments);
      }
      const state = moments;
      state.steps += 1;
      const correction1 = 1 - this.beta1 ** state.steps;
      const correction2 = 1 - this.beta2 ** state.steps;
      const paramLr = lr * (lrScale ? lrScale(name) : 1);
      tf.tidy(() => {
        const g = scale === 1 ? grad : tf.mul(grad, scale);
        const m = tf.add(tf.mul(state.m, this.beta1), tf.mul(g, 1 - this.beta1));
        const v = tf.add(tf.mul(state.v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        state.m.assign(m);
        state.v.assign(v);
        const update = tf.div(tf.div(m, correction1), tf.add(tf.sqrt(tf.div(v, correction2)), this.epsilon));
        let next = tf.sub(param, tf.mul(update, paramLr));
        if (this.weightDecay > 0 && decays(name, param.shape))
          next = tf.sub(next, tf.mul(param, paramLr * this.weightDecay));
        param.assign(next);
      });
    }
    return gradNorm;
  }

  dispose(): void {
    for (const { m, v } of this.moments.values()) tf.dispose([m, v]);
    this.moments.clear();
  }
}
