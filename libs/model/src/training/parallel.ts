import * as tf from '@tensorflow/tfjs-core';
import { availableParallelism } from 'node:os';
import { Log, silentLog } from '../../../common/src';
import { ShardBalance, ShardBalancer, WorkerPool, workerScript } from '../../../compute/src';
import { ModelConfig } from '../network/config';
import { PhccModel } from '../network/model';
import type { Optimizer } from './optimizer';
import {
  combinationWeights,
  ShardGradient,
  shardGradient,
  sliceStep,
  StepSpec,
  stepLrScale,
  stepParts,
  stepSize,
} from './shard';
import type { StepResult } from './steps';
import { readWeights } from './weights-buffer';

/** Runs a prepared training step somewhere other than the plain in-process path. */
export interface StepExecutor {
  run(model: PhccModel, step: StepSpec, optimizer: Optimizer, lr: number): Promise<StepResult>;
}

export type ReplicaRequest =
  | { type: 'init'; backend: string; config: ModelConfig }
  /**
   * `weights`: every parameter (readWeights order), shared by all replicas; `step`: the shard;
   * `gradients`: this replica's own shared buffer (room for every parameter), which it writes
   * its shard's gradients into, one after another in `stepParts` order.
   */
  | { type: 'grads'; weights: Float32Array; step: StepSpec; gradients: Float32Array };

export type ReplicaReply =
  | { type: 'ready'; names: string[]; backend: string }
  | {
      type: 'grads';
      loss: number;
      weight: number;
      /** How many values of the request's `gradients` buffer it wrote. */
      length: number;
      computeMs: number;
      phases: ReplicaPhases;
    }
  | { type: 'error'; message: string };

/** Where a worker replica's share of a step went (`…At`: epoch ms, comparable across threads). */
export interface ReplicaPhases {
  /** When the worker began the request (its shard and the weights had arrived). */
  receivedAt: number;
  /** Writing the shared weights into its model. */
  writeMs: number;
  /** Forward + backward of its shard, and writing the gradients into the shared buffer. */
  gradMs: number;
  /** When it posted the reply. */
  sentAt: number;
}

export interface ShardedStepperOptions {
  /** Compute replicas per step, ≥ 2: the main thread plus `replicas − 1` worker threads. */
  replicas: number;
  /**
   * false: `replicas` worker threads compute and the main thread only combines and applies
   * (measured slower on 2 cores: docs/BENCHMARKS.md); default true.
   */
  mainComputes?: boolean;
  config: ModelConfig;
  /** Backend inside each worker (default: the main thread's current backend). */
  backend?: string;
  /** How a batch is split: by measured replica speed (default) or equally (bit-repeatable runs). */
  balance?: ShardBalance;
  log?: Log;
}

/** Timing of the last step, for benchmarks and logs. */
export interface ShardedStepTiming {
  /** Forward + backward of each replica's shard (main thread first), ms. */
  computeMs: number[];
  /** Items (images or patients) in each replica's shard, same order. */
  shardSizes: number[];
  /** Combining the shards' gradients on the main thread, ms. */
  combineMs: number;
  /** The AdamW update on the main thread, ms. */
  applyMs: number;
  /** Whole step, ms; what is left after the slowest shard, combine and apply is the messaging
   * and weight hand-over overhead. */
  totalMs: number;
  /** Copying the main thread's weights into the shared buffer before the shards start, ms. */
  readWeightsMs: number;
  /** Each worker's phases (worker order), and the main thread's clock around them (epoch ms). */
  workers: (ReplicaPhases & { postedAt: number; arrivedAt: number })[];
  /** The main thread waiting for workers after its own shard, ms. */
  waitMs: number;
}

/**
 * Synchronous data parallelism for pHCC-SSL with the model's own AdamW. The main thread keeps the
 * authoritative model and optimiser and is itself one replica; each step it hands every worker the
 * current weights (one shared buffer) and a contiguous shard of the batch, computes its own
 * shard meanwhile, combines the shard gradients in a fixed order with `combinationWeights` (exact
 * for both stages' losses, including SSL's batch-normalised hard-sample weights) and applies
 * AdamW once. Workers keep no optimiser state, so nothing can drift between replicas.
 */
export class ShardedStepper implements StepExecutor {
  private weightsBuffer: Float32Array | undefined;
  /**
   * Buffers reused every step, so that a step allocates no gradient arrays (they made the garbage
   * collector run about once a step on each thread): one shared buffer per worker replica that
   * it writes its gradients into, the main thread's own shard's, and the combined gradient.
   */
  private buffers: { workers: Float32Array[]; local: Float32Array; combined: Float32Array } | undefined;
  private lastTiming: ShardedStepTiming = {
    computeMs: [],
    shardSizes: [],
    combineMs: 0,
    applyMs: 0,
    totalMs: 0,
    readWeightsMs: 0,
    workers: [],
    waitMs: 0,
  };
  private readonly balancer: ShardBalancer;

  private constructor(
    private readonly pool: WorkerPool<ReplicaRequest, ReplicaReply>,
    private readonly config: ModelConfig,
    private readonly names: string[],
    private readonly mainComputes: boolean,
    balance: ShardBalance,
  ) {
    this.balancer = new ShardBalancer(pool.size + (mainComputes ? 1 : 0), balance);
  }

  /** The reused gradient buffers, made at the first step (room for every parameter of the model). */
  private gradientBuffers(model: PhccModel): NonNullable<ShardedStepper['buffers']> {
    const values = model.params.count();
    this.buffers ??= {
      workers: Array.from(
        { length: this.pool.size },
        () => new Float32Array(new SharedArrayBuffer(values * 4)),
      ),
      local: new Float32Array(values),
      combined: new Float32Array(values),
    };
    return this.buffers;
  }

  static async start(opts: ShardedStepperOptions): Promise<ShardedStepper> {
    if (!Number.isInteger(opts.replicas) || opts.replicas < 2) {
      throw new Error(
        `a sharded step needs ≥ 2 replicas (got ${opts.replicas}); 1 is the plain in-process step`,
      );
    }
    const log = opts.log ?? silentLog;
    const mainComputes = opts.mainComputes ?? true;
    const pool = WorkerPool.spawn<ReplicaRequest, ReplicaReply>(
      workerScript(__dirname, 'parallel-worker'),
      mainComputes ? opts.replicas - 1 : opts.replicas,
      'training replica',
    );
    try {
      const backend = opts.backend ?? tf.getBackend();
      const answers = (await pool.all(() => ({ type: 'init', backend, config: opts.config }))) as Extract<
        ReplicaReply,
        { type: 'ready' }
      >[];
      const names = answers[0].names;
      log.info(
        { replicas: opts.replicas, workers: pool.size, mainComputes, backend: answers[0].backend },
        'training replicas ready',
      );
      return new ShardedStepper(pool, opts.config, names, mainComputes, opts.balance ?? 'speed');
    } catch (err) {
      await pool.close();
      throw err;
    }
  }

  /** Compute replicas per step (the main thread included when it computes). */
  get replicas(): number {
    return this.pool.size + (this.mainComputes ? 1 : 0);
  }

  get timing(): ShardedStepTiming {
    return this.lastTiming;
  }

  /**
   * The batch gradient of `step` (per trained parameter), computed over the replicas. The arrays
   * are views of a buffer the next call writes again: use (or copy) them before calling again.
   */
  async gradients(
    model: PhccModel,
    step: StepSpec,
  ): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
    this.checkModel(model);
    const total = stepSize(step);
    // A short last batch uses fewer replicas rather than empty shards.
    const n = Math.max(1, Math.min(this.replicas, total));
    const bounds = this.balancer.bounds(total, n);
    const readStarted = performance.now();
    const weights = readWeights(model.params, this.weightsBuffer);
    this.weightsBuffer = weights;
    const readWeightsMs = performance.now() - readStarted;
    const names = model.params.names({ parts: stepParts(step) });
    const buffers = this.gradientBuffers(model);
    const workerShards = this.mainComputes ? n - 1 : n;
    const first = n - workerShards; // shard index of worker 0
    const remote = Array.from({ length: workerShards }, (_, w) => {
      const shard = sliceStep(step, bounds[first + w], bounds[first + w + 1]);
      const transfer = shardBuffers(shard);
      const postedAt = performance.timeOrigin + performance.now();
      const gradients = buffers.workers[w];
      return this.pool.ask(w, { type: 'grads', weights, step: shard, gradients }, transfer).then((reply) => {
        const grads = reply as Extract<ReplicaReply, { type: 'grads' }>;
        const arrivedAt = performance.timeOrigin + performance.now();
        return {
          ...unflatten(grads, gradients, names, model),
          phases: { ...grads.phases, postedAt, arrivedAt },
        };
      });
    });
    // Awaited below; this only keeps a worker's failure from being "unhandled" if our shard throws.
    for (const reply of remote) reply.catch(() => undefined);
    const shards: (ShardGradient & { computeMs: number })[] = [];
    if (this.mainComputes) {
      // The main thread's own shard runs while the workers compute theirs.
      const started = performance.now();
      const local = shardGradient(
        model,
        n === 1 ? step : sliceStep(step, bounds[0], bounds[1]),
        buffers.local,
      );
      shards.push({ ...local, computeMs: performance.now() - started });
    }
    const waitStarted = performance.now();
    const remoteShards = await Promise.all(remote);
    const waitMs = performance.now() - waitStarted;
    shards.push(...remoteShards);
    const combineStarted = performance.now();
    const shares = combinationWeights(
      shards.map((s, i) => ({ weight: s.weight, count: bounds[i + 1] - bounds[i] })),
    );
    const sum = shares.reduce((a, b) => a + b, 0);
    const grads = new Map<string, Float32Array>();
    const fractions = shares.map((share) => share / sum);
    let offset = 0;
    for (const name of names) {
      const parts = shards.map((s) => s.grads.get(name) as Float32Array);
      const out = buffers.combined.subarray(offset, offset + parts[0].length);
      offset += out.length;
      grads.set(name, weightedSum(parts, fractions, out));
    }
    const loss = shards.reduce((acc, s, k) => acc + fractions[k] * s.loss, 0);
    const shardSizes = shards.map((_, k) => bounds[k + 1] - bounds[k]);
    // Replica k computed shard k (the main thread is replica 0 when it computes).
    shards.forEach((s, k) => this.balancer.record(k, shardSizes[k], s.computeMs));
    this.lastTiming = {
      computeMs: shards.map((s) => s.computeMs),
      shardSizes,
      combineMs: performance.now() - combineStarted,
      applyMs: 0,
      totalMs: 0,
      readWeightsMs,
      workers: remoteShards.map((s) => s.phases),
      waitMs,
    };
    return { loss, grads };
  }

  async run(model: PhccModel, step: StepSpec, optimizer: Optimizer, lr: number): Promise<StepResult> {
    const started = performance.now();
    const { loss, grads } = await this.gradients(model, step);
    const applyStarted = performance.now();
    const gradNorm = optimizer.applyArrays(grads, lr, stepLrScale(step));
    const now = performance.now();
    this.lastTiming = { ...this.lastTiming, applyMs: now - applyStarted, totalMs: now - started };
    return { loss, gradNorm };
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  private checkModel(model: PhccModel): void {
    const mismatch =
      JSON.stringify(model.config) !== JSON.stringify(this.config) ||
      model.params.names().join('\n') !== this.names.join('\n');
    if (mismatch)
      throw new Error('ShardedStepper: the model differs from the one its replicas were built for');
  }
}

/**
 * Replicas that pay off on this machine: wasm runs one thread per instance, so one per core;
 * the native `tensorflow` backend already uses every core.
 */
export function recommendedReplicas(backend: string): number {
  return backend === 'tensorflow' ? 1 : Math.max(1, availableParallelism());
}

/**
 * Σ_k fractions[k] · parts[k], accumulated in float64 in the order given (main thread first):
 * the same bits on every run. One pass, element by element: a float64 running sum per element is
 * exactly what a float64 accumulator array holds between shard-major passes (the form before
 * issue #19's change, measured 6–14 ms a step against ≈ 1.5), without its 8 bytes a weight.
 */
export function weightedSum(
  parts: Float32Array[],
  fractions: number[],
  out: Float32Array = new Float32Array(parts[0].length),
): Float32Array {
  if (out.length !== parts[0].length)
    throw new Error(`weightedSum: ${out.length} values of room for ${parts[0].length}`);
  if (parts.length === 1) {
    const [part] = parts;
    const [f] = fractions;
    for (let i = 0; i < out.length; i++) out[i] = f * part[i];
    return out;
  }
  if (parts.length === 2) {
    // The common case (two replicas) unrolled; `0 +` keeps the general loop's signed zeros.
    const [a, b] = parts;
    const [fa, fb] = fractions;
    for (let i = 0; i < out.length; i++) out[i] = 0 + fa * a[i] + fb * b[i];
    return out;
  }
  for (let i = 0; i < out.length; i++) {
    let sum = 0;
    for (let k = 0; k < parts.length; k++) sum += fractions[k] * parts[k][i];
    out[i] = sum;
  }
  return out;
}

function shardBuffers(step: StepSpec): ArrayBuffer[] {
  const arrays =
    step.stage === 'ssl' ? [step.batch.images, step.batch.mask] : [step.batch.patients, step.batch.labels];
  return arrays.map((a) => a.buffer as ArrayBuffer);
}

function unflatten(
  reply: Extract<ReplicaReply, { type: 'grads' }>,
  gradients: Float32Array,
  names: string[],
  model: PhccModel,
): ShardGradient & { computeMs: number } {
  const grads = new Map<string, Float32Array>();
  let offset = 0;
  for (const name of names) {
    const size = model.params.info(name).shape.reduce((a, b) => a * b, 1);
    grads.set(name, gradients.subarray(offset, offset + size));
    offset += size;
  }
  if (offset !== reply.length) {
    throw new Error(`a replica sent ${reply.length} gradient values, the step trains ${offset}`);
  }
  return { loss: reply.loss, weight: reply.weight, grads, computeMs: reply.computeMs };
}
