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
  m: Float32Array;
  v: Float32Array;
  /** Updates this parameter has had: bias correction is per parameter, because a frozen-encoder
   * warm-up starts the encoder's moments later than the head's. */
  steps: number;
}

/**
 * The update runs in plain JS over Float32Arrays: the tf-op formulation (`adamw-reference.ts`)
 * dispatched ~12 kernels per parameter (≈1 500 per step, ≈ a third of a step's kernel calls) for
 * elementwise work that one pass over host memory does faster; the moments are stored float32 as
 * before, the arithmetic per element is float64.
 */
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
    const arrays = new Map<string, Float32Array>();
    for (const [name, grad] of grads) arrays.set(name, grad.dataSync() as Float32Array);
    return this.applyArrays(arrays, lr, lrScale);
  }

  /**
   * The same update from host arrays (what worker replicas send back), so averaged gradients
   * never go through tensors. Each array holds the parameter's values in its shape's order.
   */
  applyArrays(
    grads: ReadonlyMap<string, Float32Array>,
    lr: number,
    lrScale?: (name: string) => number,
  ): number {
    for (const [name, grad] of grads) {
      const size = this.store.info(name).shape.reduce((a, b) => a * b, 1);
      if (grad.length !== size)
        throw new Error(`gradient ${name} has ${grad.length} values, the parameter ${size}`);
    }
    this.stepCount += 1;
    let squares = 0;
    for (const grad of grads.values()) for (let i = 0; i < grad.length; i++) squares += grad[i] * grad[i];
    const gradNorm = Math.sqrt(squares);
    const scale = this.clipNorm > 0 && gradNorm > this.clipNorm ? this.clipNorm / gradNorm : 1;
    const { beta1, beta2, epsilon } = this;
    for (const [name, grad] of grads) {
      const param = this.store.get(name);
      const moments = this.momentsFor(name, grad.length);
      moments.steps += 1;
      const paramLr = lr * (lrScale ? lrScale(name) : 1);
      // lr · m̂ / (√v̂ + ε) with the bias corrections folded into two per-parameter constants.
      const stepSize = paramLr / (1 - beta1 ** moments.steps);
      const rootCorrection = 1 / Math.sqrt(1 - beta2 ** moments.steps);
      // Decay uses the weight before this step's update, as the decoupled formulation does.
      const keep = this.weightDecay > 0 && decays(name, param.shape) ? 1 - paramLr * this.weightDecay : 1;
      const values = Float32Array.from(param.dataSync() as Float32Array);
      const { m, v } = moments;
      const b1 = 1 - beta1;
      const b2 = 1 - beta2;
      for (let i = 0; i < values.length; i++) {
        const g = grad[i] * scale;
        const mi = (m[i] = beta1 * m[i] + b1 * g);
        const vi = (v[i] = beta2 * v[i] + b2 * g * g);
        values[i] = keep * values[i] - (stepSize * mi) / (Math.sqrt(vi) * rootCorrection + epsilon);
      }
      const next = tf.tensor(values, param.shape, 'float32');
      param.assign(next);
      next.dispose();
    }
    return gradNorm;
  }

  /** Forget the moments (e.g. when a new federated round brings new global weights). */
  reset(): void {
    this.moments.clear();
    this.stepCount = 0;
  }

  dispose(): void {
    this.reset();
  }

  private momentsFor(name: string, size: number): Moments {
    let moments = this.moments.get(name);
    if (!moments) {
      moments = { m: new Float32Array(size), v: new Float32Array(size), steps: 0 };
      this.moments.set(name, moments);
    }
    return moments;
  }
}

/** Decay weight matrices and conv kernels only, as ConvNeXt and ViT recipes do. */
export function decays(name: string, shape: number[]): boolean {
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
