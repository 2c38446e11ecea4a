import * as tf from '@tensorflow/tfjs-core';
import { ParamStore } from '../network/params';

/**
 * AdamW (decoupled weight decay, Loshchilov & Hutter) over a ParamStore, written by hand so that
 * its state is keyed by the stable parameter names (tfjs optimisers key it by variable names that
 * carry per-process ids) and so that gradients computed elsewhere — a worker, another process —
 * can be applied by name.
 */
export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  /** Decoupled weight decay; applied to kernels only (not biases, norms, embeddings, tokens). */
  weightDecay?: number;
  /** Clip the global gradient L2 norm to this value (0 = no clipping). */
  clipNorm?: number;
}

interface Moments {
  m: tf.Variable;
  v: tf.Variable;
  /** Updates this parameter has had: bias correction is per parameter, because a frozen-encoder
   * warm-up starts the encoder's moments later than the head's. */
  steps: number;
}

export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly weightDecay: number;
  readonly clipNorm: number;
  private readonly moments = new Map<string, Moments>();
  private stepCount = 0;

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

  get steps(): number {
    return this.stepCount;
  }

  /**
   * Applies one update from gradients keyed by parameter name. Returns the global gradient norm
   * before clipping (a divergence signal worth logging). Does not dispose `grads`.
   */
  apply(grads: ReadonlyMap<string, tf.Tensor>, lr: number, lrScale?: (name: string) => number): number {
    this.stepCount += 1;
    const names = [...grads.keys()];
    const norm = tf.tidy(() => {
      const squares = names.map((name) => tf.sum(tf.square(grads.get(name) as tf.Tensor)));
      return tf.sqrt(tf.addN(squares));
    });
    const gradNorm = norm.dataSync()[0];
    norm.dispose();
    const scale = this.clipNorm > 0 && gradNorm > this.clipNorm ? this.clipNorm / gradNorm : 1;
    for (const name of names) {
      const param = this.store.get(name);
      const grad = grads.get(name) as tf.Tensor;
      const moments = this.momentsFor(name, param);
      moments.steps += 1;
      const correction1 = 1 - this.beta1 ** moments.steps;
      const correction2 = 1 - this.beta2 ** moments.steps;
      const paramLr = lr * (lrScale ? lrScale(name) : 1);
      tf.tidy(() => {
        const g = scale === 1 ? grad : tf.mul(grad, scale);
        const m = tf.add(tf.mul(moments.m, this.beta1), tf.mul(g, 1 - this.beta1));
        const v = tf.add(tf.mul(moments.v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        moments.m.assign(m);
        moments.v.assign(v);
        const update = tf.div(tf.div(m, correction1), tf.add(tf.sqrt(tf.div(v, correction2)), this.epsilon));
        let next = tf.sub(param, tf.mul(update, paramLr));
        if (this.weightDecay > 0 && decays(name, param.shape))
          next = tf.sub(next, tf.mul(param, paramLr * this.weightDecay));
        param.assign(next);
      });
    }
    return gradNorm;
  }

  /** Forget the moments (e.g. when a new federated round brings new global weights). */
  reset(): void {
    for (const { m, v } of this.moments.values()) {
      m.dispose();
      v.dispose();
    }
    this.moments.clear();
    this.stepCount = 0;
  }

  dispose(): void {
    this.reset();
  }

  private momentsFor(name: string, param: tf.Variable): Moments {
    let moments = this.moments.get(name);
    if (!moments) {
      const zeros = tf.zerosLike(param);
      moments = { m: tf.variable(zeros, false), v: tf.variable(zeros, false), steps: 0 };
      zeros.dispose();
      this.moments.set(name, moments);
    }
    return moments;
  }
}

/** Decay weight matrices and conv kernels only, as ConvNeXt and ViT recipes do. */
function decays(name: string, shape: number[]): boolean {
  return shape.length >= 2 && name.endsWith('/kernel');
}

export interface LrSchedule {
  baseLr: number;
  warmupSteps: number;
  totalSteps: number;
  /** Floor of the cosine decay, as a fraction of baseLr. */
  minLrRatio?: number;
}

/** Linear warm-up then half-cosine decay; step is 0-based. */
export function cosineLr(step: number, schedule: LrSchedule): number {
  const { baseLr, warmupSteps, totalSteps } = schedule;
  const floor = baseLr * (schedule.minLrRatio ?? 0.01);
  if (step < warmupSteps) return (baseLr * (step + 1)) / warmupSteps;
  const span = Math.max(1, totalSteps - warmupSteps);
  const progress = Math.min(1, (step - warmupSteps) / span);
  return floor + (baseLr - floor) * 0.5 * (1 + Math.cos(Math.PI * progress));
}
