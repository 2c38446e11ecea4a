import * as tf from '@tensorflow/tfjs-core';
import { warmupCosineLr } from '../../../federated/src/schedule/lr-schedule';
import { OPTIMISER_NAMES, OptimiserName } from '../../../protocol/src/optimisers';
import { adamwSteps, squaredNorm, wasmAdamWAvailable } from '../../../compute/src';
import { ParamStore } from '../network/params';

export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  /** Decoupled weight decay; applied to kernels only (not biases, norms, embeddings, tokens). */
  weightDecay?: number;
  /** Clip the global gradient L2 norm to this value (0 = no clipping). */
  clipNorm?: number;
}

/**
 * An optimiser's per-parameter state as plain arrays, keyed by the stable parameter names: what a
 * site keeps on disk between the rounds of a federated run (never sent). `buffers` are the
 * moments (AdamW: m, v; SGD: the velocity), `steps` the updates each parameter has had.
 */
export interface OptimizerState {
  kind: OptimiserName;
  /** Updates applied in all (the optimiser's own counter). */
  steps: number;
  params: { name: string; steps: number; buffers: Float32Array[] }[];
}

interface Slot {
  /** The moments as host arrays (the JS update), or undefined while they live on the wasm heap. */
  buffers?: Float32Array[];
  /**
   * The moments as wasm tensors that only this optimiser holds (the wasm AdamW writes them in
   * place), or undefined while they are host arrays. A slot moves to where the update runs.
   */
  tensors?: tf.Tensor[];
  /** Updates this parameter has had: bias correction is per parameter, because a frozen-encoder
   * warm-up starts the encoder's moments later than the head's. */
  steps: number;
}

/**
 * What the training loops and steps need of an optimiser: updates by parameter name from
 * gradients as tensors or host arrays, and its state out and back in.
 */
export interface Optimizer {
  readonly kind: OptimiserName;
  readonly steps: number;
  apply(grads: ReadonlyMap<string, tf.Tensor>, lr: number, lrScale?: (name: string) => number): number;
  applyArrays(
    grads: ReadonlyMap<string, Float32Array>,
    lr: number,
    lrScale?: (name: string) => number,
  ): number;
  exportState(): OptimizerState;
  importState(state: OptimizerState): void;
  reset(): void;
  dispose(): void;
}

/**
 * The shared half of the optimisers: gradients by name, one global-norm clip, decoupled weight
 * decay on kernels, per-parameter slots. The update runs in plain JS over Float32Arrays: the
 * tf-op formulation (`adamw-reference.ts`) dispatched ~12 kernels per parameter (≈1 500 per
 * step, ≈ a third of a step's kernel calls) for elementwise work that one pass over host memory
 * does faster; the state is stored float32, the arithmetic per element is float64. A subclass
 * may also update on the wasm heap (`onHeap`), where the weights and gradients already lie: then
 * no weight is copied out and back, and the moments stay there between steps.
 */
abstract class NamedParamOptimizer implements Optimizer {
  abstract readonly kind: OptimiserName;
  readonly weightDecay: number;
  readonly clipNorm: number;
  private readonly slots = new Map<string, Slot>();
  private stepCount = 0;

  constructor(
    private readonly store: ParamStore,
    options: { weightDecay?: number; clipNorm?: number },
    private readonly buffersPerParam: number,
  ) {
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
    if (!this.onHeap()) {
      const arrays = new Map<string, Float32Array>();
      for (const [name, grad] of grads) arrays.set(name, grad.dataSync() as Float32Array);
      return this.applyArrays(arrays, lr, lrScale);
    }
    this.checkSizes(grads);
    // Read where the gradients lie; the same running float64 sum as the host loop below.
    const gradNorm = Math.sqrt(squaredNorm(grads.values()));
    this.applyAll(grads, gradNorm, lr, lrScale);
    return gradNorm;
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
    this.checkSizes(grads);
    let squares = 0;
    for (const grad of grads.values()) for (let i = 0; i < grad.length; i++) squares += grad[i] * grad[i];
    const gradNorm = Math.sqrt(squares);
    this.applyAll(grads, gradNorm, lr, lrScale);
    return gradNorm;
  }

  private checkSizes(grads: ReadonlyMap<string, tf.Tensor | Float32Array>): void {
    for (const [name, grad] of grads) {
      const size = this.store.info(name).shape.reduce((a, b) => a * b, 1);
      const length = grad instanceof tf.Tensor ? grad.size : grad.length;
      if (length !== size) throw new Error(`gradient ${name} has ${length} values, the parameter ${size}`);
    }
  }

  private applyAll(
    grads: ReadonlyMap<string, tf.Tensor | Float32Array>,
    gradNorm: number,
    lr: number,
    lrScale: ((name: string) => number) | undefined,
  ): void {
    this.stepCount += 1;
    const scale = this.clipNorm > 0 && gradNorm > this.clipNorm ? this.clipNorm / gradNorm : 1;
    const heap = this.onHeap();
    const onHeap: HeapStep[] = [];
    const made: tf.Tensor[] = [];
    try {
      for (const [name, grad] of grads) {
        const param = this.store.get(name);
        const slot = this.slotFor(name, param.size);
        slot.steps += 1;
        const paramLr = lr * (lrScale ? lrScale(name) : 1);
        // Decay uses the weight before this step's update, as the decoupled formulation does.
        const keep = this.weightDecay > 0 && decays(name, param.shape) ? 1 - paramLr * this.weightDecay : 1;
        if (heap) {
          let g = grad as tf.Tensor;
          if (grad instanceof Float32Array) made.push((g = tf.tensor(grad, param.shape, 'float32')));
          onHeap.push({
            param,
            grad: g,
            moments: heapMoments(slot),
            scale,
            lr: paramLr,
            keep,
            steps: slot.steps,
          });
          continue;
        }
        const g = grad instanceof tf.Tensor ? (grad.dataSync() as Float32Array) : grad;
        const values = Float32Array.from(param.dataSync() as Float32Array);
        this.update(values, g, scale, hostMoments(slot), slot.steps, paramLr, keep);
        const next = tf.tensor(values, param.shape, 'float32');
        param.assign(next);
        next.dispose();
      }
      if (onHeap.length === 0) return;
      // Every parameter in one dispatch; then each takes its new weights.
      const next = this.updateOnHeap(onHeap);
      onHeap.forEach((step, i) => step.param.assign(next[i]));
      tf.dispose(next);
    } finally {
      tf.dispose(made);
    }
  }

  /** values ← keep·values − (the optimiser's step from grad·scale), updating its moments. */
  protected abstract update(
    values: Float32Array,
    grad: Float32Array,
    scale: number,
    moments: Float32Array[],
    steps: number,
    lr: number,
    keep: number,
  ): void;

  /** Whether this step updates on the wasm heap (`updateOnHeap`); the host loop otherwise. */
  protected onHeap(): boolean {
    return false;
  }

  /** `update` of every step on the wasm heap: the new weights, in order; the moments written in place. */
  protected updateOnHeap(_steps: readonly HeapStep[]): tf.Tensor[] {
    throw new Error(`${this.kind} has no update on the wasm heap`);
  }

  exportState(): OptimizerState {
    return {
      kind: this.kind,
      steps: this.stepCount,
      params: [...this.slots].map(([name, slot]) => ({
        name,
        steps: slot.steps,
        buffers: slot.tensors
          ? slot.tensors.map((t) => Float32Array.from(t.dataSync() as Float32Array))
          : slot.buffers!.map((b) => Float32Array.from(b)),
      })),
    };
  }

  /**
   * Continues from a saved state (the same run's previous round). Refuses a state of another
   * optimiser or one whose buffers do not fit this model's parameters, naming the parameter.
   */
  importState(state: OptimizerState): void {
    if (state.kind !== this.kind)
      throw new Error(`optimiser state is ${state.kind}'s, this optimiser is ${this.kind}`);
    const slots = new Map<string, Slot>();
    for (const p of state.params) {
      if (!this.store.has(p.name)) throw new Error(`optimiser state holds ${p.name}, which the model lacks`);
      const size = this.store.info(p.name).shape.reduce((a, b) => a * b, 1);
      if (p.buffers.length !== this.buffersPerParam || p.buffers.some((b) => b.length !== size))
        throw new Error(`optimiser state of ${p.name} does not fit the parameter (${size} values)`);
      slots.set(p.name, { steps: p.steps, buffers: p.buffers.map((b) => Float32Array.from(b)) });
    }
    this.reset();
    for (const [name, slot] of slots) this.slots.set(name, slot);
    this.stepCount = state.steps;
  }

  /** Forget the state (e.g. when a new federated round brings new global weights). */
  reset(): void {
    for (const slot of this.slots.values()) if (slot.tensors) tf.dispose(slot.tensors);
    this.slots.clear();
    this.stepCount = 0;
  }

  dispose(): void {
    this.reset();
  }

  private slotFor(name: string, size: number): Slot {
    let slot = this.slots.get(name);
    if (!slot) {
      slot = {
        buffers: Array.from({ length: this.buffersPerParam }, () => new Float32Array(size)),
        steps: 0,
      };
      this.slots.set(name, slot);
    }
    return slot;
  }
}

/** One parameter's share of an update on the wasm heap (`updateOnHeap`). */
interface HeapStep {
  param: tf.Variable;
  grad: tf.Tensor;
  moments: tf.Tensor[];
  /** The clip's gradient scale. */
  scale: number;
  /** This parameter's learning rate (the step's, times its scale). */
  lr: number;
  /** The decoupled decay factor (1 − lr·λ, or 1). */
  keep: number;
  /** Updates this parameter has had, this one included. */
  steps: number;
}

/** A slot's moments as host arrays, moved off the wasm heap if they were there. */
function hostMoments(slot: Slot): Float32Array[] {
  if (slot.tensors) {
    slot.buffers = slot.tensors.map((t) => Float32Array.from(t.dataSync() as Float32Array));
    tf.dispose(slot.tensors);
    slot.tensors = undefined;
  }
  return slot.buffers!;
}

/** A slot's moments as wasm tensors, moved there if they were host arrays (kept past any tidy). */
function heapMoments(slot: Slot): tf.Tensor[] {
  if (!slot.tensors) {
    slot.tensors = slot.buffers!.map((b) => tf.keep(tf.tensor1d(b, 'float32')));
    slot.buffers = undefined;
  }
  return slot.tensors;
}

/**
 * AdamW (decoupled weight decay, Loshchilov & Hutter) over a ParamStore, written by hand so that
 * its state is keyed by the stable parameter names (tfjs optimisers key it by variable names that
 * carry per-process ids) and so that gradients computed elsewhere — a worker, another process —
 * can be applied by name. On wasm it updates on the heap (compute/ops/adamw.ts) with the same
 * float64 arithmetic, so the two give the same bits (`PHCC_WASM_ADAMW=0` keeps the JS loop).
 */
export class AdamW extends NamedParamOptimizer {
  readonly kind = 'adam' as const;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;

  constructor(store: ParamStore, options: AdamWOptions = {}) {
    super(store, options, 2);
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-8;
  }

  protected update(
    values: Float32Array,
    grad: Float32Array,
    scale: number,
    moments: Float32Array[],
    steps: number,
    lr: number,
    keep: number,
  ): void {
    const { beta1, beta2, epsilon } = this;
    // lr · m̂ / (√v̂ + ε) with the bias corrections folded into two per-parameter constants.
    const stepSize = lr / (1 - beta1 ** steps);
    const rootCorrection = 1 / Math.sqrt(1 - beta2 ** steps);
    const [m, v] = moments;
    const b1 = 1 - beta1;
    const b2 = 1 - beta2;
    for (let i = 0; i < values.length; i++) {
      const g = grad[i] * scale;
      const mi = (m[i] = beta1 * m[i] + b1 * g);
      const vi = (v[i] = beta2 * v[i] + b2 * g * g);
      values[i] = keep * values[i] - (stepSize * mi) / (Math.sqrt(vi) * rootCorrection + epsilon);
    }
  }

  protected override onHeap(): boolean {
    return wasmAdamWAvailable();
  }

  protected override updateOnHeap(steps: readonly HeapStep[]): tf.Tensor[] {
    const { beta1, beta2, epsilon } = this;
    // The host loop's constants, computed the same way (the kernel's arithmetic is the loop's).
    return adamwSteps(
      steps.map((s) => ({
        param: s.param,
        grad: s.grad,
        m: s.moments[0],
        v: s.moments[1],
        hyper: {
          scale: s.scale,
          beta1,
          beta2,
          oneMinusBeta1: 1 - beta1,
          oneMinusBeta2: 1 - beta2,
          stepSize: s.lr / (1 - beta1 ** s.steps),
          rootCorrection: 1 / Math.sqrt(1 - beta2 ** s.steps),
          epsilon,
          keep: s.keep,
        },
      })),
    );
  }
}

export interface SgdOptions {
  /** Heavy-ball momentum (PyTorch's form: buf ← μ·buf + g; step lr·buf); default 0.9. */
  momentum?: number;
  weightDecay?: number;
  clipNorm?: number;
}

/** SGD with momentum and decoupled weight decay: a plan's `optimiser: { name: sgd }`. */
export class SgdMomentum extends NamedParamOptimizer {
  readonly kind = 'sgd' as const;
  readonly momentum: number;

  constructor(store: ParamStore, options: SgdOptions = {}) {
    super(store, options, 1);
    this.momentum = options.momentum ?? 0.9;
  }

  protected update(
    values: Float32Array,
    grad: Float32Array,
    scale: number,
    moments: Float32Array[],
    _steps: number,
    lr: number,
    keep: number,
  ): void {
    const [buf] = moments;
    const mu = this.momentum;
    for (let i = 0; i < values.length; i++) {
      const b = (buf[i] = mu * buf[i] + grad[i] * scale);
      values[i] = keep * values[i] - lr * b;
    }
  }
}

/** The optimiser a plan names, with its weight decay and the model's gradient clip. */
export function createOptimizer(
  name: OptimiserName,
  store: ParamStore,
  options: { weightDecay?: number; clipNorm?: number } = {},
): Optimizer {
  if (name === 'adam') return new AdamW(store, options);
  if (name === 'sgd') return new SgdMomentum(store, options);
  throw new Error(`unknown optimiser ${String(name)} (one of ${OPTIMISER_NAMES.join(', ')})`);
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

/** Linear warm-up then half-cosine decay; step is 0-based (libs/federated's one schedule, in steps). */
export function cosineLr(step: number, schedule: LrSchedule): number {
  return warmupCosineLr(step, {
    baseLr: schedule.baseLr,
    warmup: schedule.warmupSteps,
    total: schedule.totalSteps,
    minLrRatio: schedule.minLrRatio,
  });
}
