import { availableParallelism } from 'node:os';
import { Log, silentLog } from '../../../common/src';
import { batchSize, HostBatch, sliceBatch } from '../trainable';
import { WorkerPool, workerScript } from './pool';
import { ShardBalance, ShardBalancer } from './shard-balancer';
import { FromWorker, ModelSpec, OptimizerSpec, ToWorker } from './protocol';

export interface DataParallelOptions {
  /** Number of replicas (worker threads), ≥ 1. */
  workers: number;
  model: ModelSpec;
  optimizer: OptimizerSpec;
  /** Backend inside each worker (default 'wasm': one single-threaded wasm instance per worker). */
  backend?: string;
  /** wasm intra-op threads inside each replica (default 1: one core per replica). */
  threads?: number;
  /** How a batch is split: by measured replica speed (default) or equally (bit-repeatable runs). */
  balance?: ShardBalance;
  log?: Log;
}

export interface DataParallelStep {
  /** Mean loss over the whole batch (shard losses weighted by shard size). */
  loss: number;
  /** Each replica's forward + backward time for its shard (ms). */
  computeMs: number[];
  /** Items each replica computed. */
  shardSizes: number[];
}

/**
 * Synchronous data parallelism over worker_threads, for backends that use one core (wasm in
 * Node). Every replica starts from the same weights (the factory seeds them from its config),
 * computes the gradient of its shard's mean loss scaled by the shard's share of the batch; the
 * shares are summed here in a fixed order and every replica applies that same sum with the same
 * optimizer, so replicas stay bit-identical and a step equals a single-process step on the whole
 * batch up to float rounding.
 */
export class DataParallelTrainer {
  private reduced: Float32Array | undefined;
  /** Whether `reduced` holds a sum the replicas have not applied yet. */
  private pending = false;
  private flushing: Promise<void> | undefined;
  private parameterCount = 0;

  private readonly balancer: ShardBalancer;

  private constructor(
    private readonly replicas: WorkerPool<ToWorker, FromWorker>,
    balance: ShardBalance,
  ) {
    this.balancer = new ShardBalancer(replicas.size, balance);
  }

  /** Number of trainable weights (length of a gradient or weight vector). */
  get parameters(): number {
    return this.parameterCount;
  }

  static async start(opts: DataParallelOptions): Promise<DataParallelTrainer> {
    if (!Number.isInteger(opts.workers) || opts.workers < 1) {
      throw new Error(`workers must be a positive integer (got ${opts.workers})`);
    }
    const log = opts.log ?? silentLog;
    const replicas = WorkerPool.spawn<ToWorker, FromWorker>(
      workerScript(__dirname, 'worker-main'),
      opts.workers,
      'data-parallel worker',
    );
    const trainer = new DataParallelTrainer(replicas, opts.balance ?? 'speed');
    let answers: FromWorker[];
    try {
      answers = await trainer.all(() => ({
        type: 'init',
        backend: opts.backend ?? 'wasm',
        threads: opts.threads ?? 1,
        model: opts.model,
        optimizer: opts.optimizer,
      }));
    } catch (err) {
      await trainer.close();
      throw err;
    }
    const first = answers[0] as Extract<FromWorker, { type: 'ready' }>;
    trainer.parameterCount = first.parameters;
    log.info(
      { workers: opts.workers, parameters: first.parameters, backend: first.backend },
      'data-parallel replicas ready',
    );
    return trainer;
  }

  get workers(): number {
    return this.replicas.size;
  }

  /** One synchronous step on `batch`, split into contiguous shards (one per replica). */
  async step(batch: HostBatch): Promise<DataParallelStep> {
    const total = batchSize(batch);
    const n = this.replicas.size;
    if (total < n) throw new Error(`batch of ${total} cannot feed ${n} workers`);
    const bounds = this.balancer.bounds(total);
    // The previous step's sum rides with this step's shards: every replica applies it before
    // computing, so a step costs one round trip. Replicas are done reading `reduced` before
    // they answer, so it is safe to overwrite below.
    const pending = this.pending;
    const answers = (await this.all((i) => ({
      type: 'grads',
      shard: sliceBatch(batch, bounds[i], bounds[i + 1]),
      weight: (bounds[i + 1] - bounds[i]) / total,
      ...(pending ? { apply: this.reduced } : {}),
    }))) as Extract<FromWorker, { type: 'grads' }>[];
    // Float32 sum in replica order: the same on every run, whatever order replies arrived in.
    this.reduced ??= new Float32Array(new SharedArrayBuffer(this.parameters * 4));
    const sum = this.reduced;
    sum.set(answers[0].gradients);
    for (let r = 1; r < n; r++) {
      const g = answers[r].gradients;
      for (let i = 0; i < sum.length; i++) sum[i] = Math.fround(sum[i] + g[i]);
    }
    this.pending = true;
    const shardSizes = answers.map((_, i) => bounds[i + 1] - bounds[i]);
    answers.forEach((a, i) => this.balancer.record(i, shardSizes[i], a.computeMs));
    const loss = answers.reduce((acc, a, i) => acc + (a.loss * shardSizes[i]) / total, 0);
    return { loss, computeMs: answers.map((a) => a.computeMs), shardSizes };
  }

  /** Applies the last step's update on every replica (steps leave it for the next step). */
  flush(): Promise<void> {
    if (this.pending && this.reduced) {
      const sum = this.reduced;
      this.pending = false;
      this.flushing = this.all(() => ({ type: 'apply', gradients: sum })).then(() => undefined);
    }
    return this.flushing ?? Promise.resolve();
  }

  /** Flattened weights of one replica (variable order of the model), after the last step. */
  async weights(replica = 0): Promise<Float32Array> {
    await this.flush();
    const answer = (await this.replicas.ask(replica, { type: 'weights' })) as Extract<
      FromWorker,
      { type: 'weights' }
    >;
    return answer.weights;
  }

  /** Every replica's weights, to check that they are still identical. */
  async replicaWeights(): Promise<Float32Array[]> {
    return Promise.all(Array.from({ length: this.replicas.size }, (_, i) => this.weights(i)));
  }

  async close(): Promise<void> {
    await this.replicas.close();
  }

  private all(make: (i: number) => ToWorker): Promise<FromWorker[]> {
    return this.replicas.all(make);
  }
}

/**
 * Replicas that pay off: wasm runs one thread per instance, so one replica per core; backends that
 * already use every core (tensorflow) gain nothing from more.
 */
export function recommendedWorkers(backend: string, batch: number): number {
  if (backend === 'tensorflow') return 1;
  return Math.max(1, Math.min(availableParallelism(), Math.floor(batch / 2)));
}
