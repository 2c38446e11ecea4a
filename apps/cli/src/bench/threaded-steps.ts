import { WorkerPool, workerScript } from '../../../../libs/compute/src/workers/pool';
import type { ModelConfig } from '../../../../libs/model/src/network';
import type { StepSpec } from '../../../../libs/model/src/training/shard';
import type { StepTimes } from './peer';

export type ThreadedStepsRequest =
  | {
      type: 'init';
      config: ModelConfig;
      threads: number;
      ssl: Extract<StepSpec, { stage: 'ssl' }>;
      finetune: Extract<StepSpec, { stage: 'finetune' }>;
    }
  | { type: 'time'; stage: ThreadedStage; steps: number; lr: number; intraOp: boolean };

/** A training step's stage, or `infer`: the fine-tune batch's forward pass only (what predict and evaluate run). */
export type ThreadedStage = StepSpec['stage'] | 'infer';

export type ThreadedStepsReply =
  { type: 'ready'; threads: number; helpers: string } | ({ type: 'times' } & StepTimes);

/**
 * Our step at N intra-op threads, timed in a worker thread with its own threaded wasm backend
 * (threaded-steps-worker.ts), so `bench model` can put it beside the in-process one-core step
 * and the `--workers 2` replicas in one run. The main thread sleeps while it runs.
 */
export class ThreadedSteps {
  private constructor(
    private readonly pool: WorkerPool<ThreadedStepsRequest, ThreadedStepsReply>,
    /** Threads the worker's backend actually runs (1 when the threaded build could not start). */
    readonly threads: number,
    readonly helpers: string,
  ) {}

  static async start(
    config: ModelConfig,
    threads: number,
    batches: { ssl: Extract<StepSpec, { stage: 'ssl' }>; finetune: Extract<StepSpec, { stage: 'finetune' }> },
  ): Promise<ThreadedSteps> {
    const pool = WorkerPool.spawn<ThreadedStepsRequest, ThreadedStepsReply>(
      workerScript(__dirname, 'threaded-steps-worker'),
      1,
      'threaded-steps worker',
    );
    try {
      const ready = await pool.ask(0, { type: 'init', config, threads, ...batches });
      if (ready.type !== 'ready') throw new Error(`threaded-steps worker answered ${ready.type} to init`);
      return new ThreadedSteps(pool, ready.threads, ready.helpers);
    } catch (err) {
      await pool.close();
      throw err;
    }
  }

  /**
   * Wall and CPU seconds (all threads) of `steps` steps after one warm-up; `intraOp: false` runs
   * every call on the worker's own thread, on the same threaded backend.
   */
  async time(stage: ThreadedStage, steps: number, lr = 1e-4, intraOp = true): Promise<StepTimes> {
    const reply = await this.pool.ask(0, { type: 'time', stage, steps, lr, intraOp });
    if (reply.type !== 'times') throw new Error(`threaded-steps worker answered ${reply.type} to time`);
    return { wall: reply.wall, cpu: reply.cpu };
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
