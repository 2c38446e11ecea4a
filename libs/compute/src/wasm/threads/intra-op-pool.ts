import type { Worker } from 'node:worker_threads';
import { spawnWorker, workerScript } from '../../workers/pool';
import type { IntraOpWorkerData } from './intra-op-worker';
import {
  CTRL,
  CTRL_BYTES,
  drainJob,
  floatArgIndices,
  NO_RESULT,
  RESULT_NONE,
  runPiece,
  SPLIT_NAMES,
  SplitExports,
  SplitJob,
  STOP_OP,
} from './split-jobs';

/**
 * Threads that share one SIMD helper call with the main thread (intra-op parallelism, as
 * PyTorch's and XNNPACK's thread pools do), all working on the one shared wasm heap: the main
 * thread publishes a job in a shared control block, every thread (main included) claims pieces
 * with an atomic counter until none is left, and the main thread returns when all are done. A
 * call stays synchronous, as a tfjs kernel must be.
 *
 * Claiming pieces (rather than halving) is what makes two threads pay off on these VMs, whose
 * two vCPUs run at different speeds while both are busy: a fixed half-and-half split waits for
 * the slower half (measured 1.4–1.5× on a GEMM; claiming, 1.6–2.0×).
 */
export class IntraOpPool {
  /** Calls smaller than this (≈ multiply-adds) run on the main thread alone: waking a thread costs ≈ 5–50 µs. */
  static minWork = 1 << 19;
  /** Pieces per thread a job is cut into: enough to balance unequal cores, few enough to keep each piece long. */
  static piecesPerThread = 6;

  /**
   * Items per piece. Usually `piecesPerThread` pieces a thread, claimed as threads come free. A job
   * whose pieces all stream one shared operand (`onePiecePerThread`: a dense layer's small weight
   * gradient, which reads all of dy for each group of x's columns) is halved instead: with many
   * pieces each one, run at its own time, fetched that operand from memory again (a stage-1 dW,
   * [49152, 32]ᵀ · [49152, 64], took 13.7 ms on two threads against 10.0 on one); with one piece a
   * thread the two walk it side by side and share its fetches (6.3–7.1 ms). Measured in
   * docs/BENCHMARKS.md ("The small weight gradients on two threads").
   */
  static chunkOf(job: Pick<SplitJob, 'items' | 'onePiecePerThread'>, threads: number): number {
    const pieces = job.onePiecePerThread ? threads : threads * IntraOpPool.piecesPerThread;
    return Math.max(1, Math.ceil(job.items / pieces));
  }

  private readonly ctrl: Int32Array;
  private readonly floats: Float32Array;
  private seq = 0;
  /** Jobs run split, and run whole (tests check that calls really split). */
  readonly counts = { split: 0, whole: 0 };

  private constructor(
    private readonly workers: Worker[],
    buffer: SharedArrayBuffer,
  ) {
    this.ctrl = new Int32Array(buffer);
    this.floats = new Float32Array(buffer);
  }

  /**
   * Starts `threads − 1` workers on `memory` (a shared WebAssembly.Memory) with the same compiled
   * helper modules the main thread uses, and resolves once each has instantiated them.
   */
  static async start(
    threads: number,
    modules: { plain: object; fma?: object },
    memory: object,
  ): Promise<IntraOpPool> {
    const buffer = new SharedArrayBuffer(CTRL_BYTES);
    const workerData: IntraOpWorkerData = { ...modules, memory, ctrl: buffer };
    const workers: Worker[] = [];
    try {
      for (let i = 1; i < threads; i++) {
        const worker = spawnWorker(workerScript(__dirname, 'intra-op-worker'), { workerData });
        workers.push(worker);
        await new Promise<void>((resolve, reject) => {
          worker.once('message', () => resolve());
          worker.once('error', reject);
          worker.once('exit', (code) =>
            reject(new Error(`intra-op worker exited (code ${code}) before it was ready`)),
          );
        });
        // A blocked worker must not keep the process alive once the main thread is done.
        worker.unref();
      }
    } catch (err) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw err;
    }
    const pool = new IntraOpPool(workers, buffer);
    pool.spin = DEFAULT_SPIN;
    return pool;
  }

  /** Polls a worker makes after a job before it sleeps; read by the workers before each wait. */
  get spin(): number {
    return Atomics.load(this.ctrl, CTRL.SPIN);
  }

  set spin(polls: number) {
    Atomics.store(this.ctrl, CTRL.SPIN, polls);
  }

  /** Threads that share a call, the main one included. */
  get threads(): number {
    return this.workers.length + 1;
  }

  /**
   * Runs `job` on `helpers` (the main thread's instance of the variant the workers must use,
   * `fma`): split across the threads when it is large enough, else in one call. Returns the
   * call's answer (the masked GELU's first bad row, else −1), as the helper itself would.
   */
  run(job: SplitJob, helpers: SplitExports, fma: boolean): number {
    const { ctrl } = this;
    if (this.workers.length === 0 || job.work < IntraOpPool.minWork || job.items < 2) {
      this.counts.whole++;
      return runPiece(helpers, job.op, job.args, (i) => job.args[i], 0, job.items);
    }
    this.counts.split++;
    ctrl[CTRL.OP] = SPLIT_NAMES.indexOf(job.op);
    ctrl[CTRL.FMA] = fma ? 1 : 0;
    ctrl[CTRL.ITEMS] = job.items;
    ctrl[CTRL.CHUNK] = IntraOpPool.chunkOf(job, this.threads);
    const floatAt = floatArgIndices(job.op);
    job.args.forEach((v, i) => {
      if (floatAt.includes(i)) this.floats[CTRL.ARGS + i] = v;
      else ctrl[CTRL.ARGS + i] = v;
    });
    ctrl[CTRL.NEXT] = 0;
    ctrl[CTRL.DONE] = 0;
    ctrl[CTRL.ERROR] = 0;
    ctrl[CTRL.RESULT] = RESULT_NONE;
    // The store to SEQ publishes every write above (Atomics are sequentially consistent).
    Atomics.store(ctrl, CTRL.SEQ, ++this.seq);
    Atomics.notify(ctrl, CTRL.SEQ);
    let failure: unknown;
    try {
      drainJob(ctrl, this.floats, helpers);
    } catch (err) {
      failure = err;
    }
    this.waitForWorkers();
    if (failure) throw failure;
    if (Atomics.load(ctrl, CTRL.ERROR)) {
      const bytes = new Uint8Array(ctrl.buffer, CTRL.TEXT, CTRL.TEXT_BYTES).slice();
      const end = bytes.indexOf(0);
      const text = new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
      throw new Error(`intra-op worker failed in ${job.op}: ${text}`);
    }
    const result = Atomics.load(ctrl, CTRL.RESULT);
    return result === RESULT_NONE ? NO_RESULT : result;
  }

  /** Stops the workers (each leaves its wait loop on the STOP op). */
  async close(): Promise<void> {
    this.ctrl[CTRL.OP] = STOP_OP;
    Atomics.store(this.ctrl, CTRL.SEQ, ++this.seq);
    Atomics.notify(this.ctrl, CTRL.SEQ);
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }

  /**
   * Waits until every worker has left the job. The main thread has run out of pieces by now, so
   * only pieces already claimed are left: spin first (they end within a piece's time), then
   * sleep. A worker that died cannot answer: after `STALL_MS` this throws rather than hang the step.
   */
  private waitForWorkers(): void {
    const { ctrl } = this;
    const want = this.workers.length;
    for (let i = 0; i < 1_000_000 && Atomics.load(ctrl, CTRL.DONE) < want; i++);
    const deadline = Date.now() + STALL_MS;
    for (let done = Atomics.load(ctrl, CTRL.DONE); done < want; done = Atomics.load(ctrl, CTRL.DONE)) {
      if (Date.now() > deadline) {
        throw new Error(`intra-op worker stopped answering (${done} of ${want} done after ${STALL_MS} ms)`);
      }
      Atomics.wait(ctrl, CTRL.DONE, done, 100);
    }
  }
}

/** How long the main thread waits for workers that no longer take pieces before it gives up. */
const STALL_MS = 30_000;
/**
 * Polls (Atomics.load) a worker makes before it sleeps, a few microseconds: it catches a job that
 * follows at once without burning the core while the main thread runs serial work. 0, 2,000,
 * 20,000 and 200,000 measured alike on whole steps (alternated in one process).
 */
const DEFAULT_SPIN = 2_000;
