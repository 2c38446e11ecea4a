import { parentPort, workerData } from 'node:worker_threads';
import { CTRL, drainJob, SplitExports, STOP_OP } from './split-jobs';

/**
 * One intra-op thread: the SIMD helpers instantiated on the main thread's shared wasm memory,
 * waiting on the control block for a published job, taking pieces of it until none is left,
 * then waiting again. It never touches tfjs: the main thread allocates every tensor and only
 * hands over pointers. It blocks in Atomics.wait between jobs, so it answers no messages; the
 * pool stops it with the STOP op or `terminate()`.
 */
export interface IntraOpWorkerData {
  /** Compiled helper modules (WebAssembly.Module is cloneable between threads). */
  plain: object;
  fma?: object;
  /** The tfjs-wasm heap, a shared WebAssembly.Memory. */
  memory: object;
  ctrl: SharedArrayBuffer;
}

interface WasmInstanceApi {
  Instance: new (module: object, imports: object) => { exports: object };
}

function main(data: IntraOpWorkerData): void {
  const { Instance } = (globalThis as unknown as { WebAssembly: WasmInstanceApi }).WebAssembly;
  const instantiate = (module: object) =>
    new Instance(module, { env: { memory: data.memory } }).exports as SplitExports;
  const plain = instantiate(data.plain);
  const fma = data.fma ? instantiate(data.fma) : plain;
  const ctrl = new Int32Array(data.ctrl);
  const floats = new Float32Array(data.ctrl);
  parentPort!.postMessage('ready');
  let seen = Atomics.load(ctrl, CTRL.SEQ);
  for (;;) {
    // Poll a while before sleeping: the next job often follows within microseconds.
    const spin = ctrl[CTRL.SPIN];
    for (let i = 0; i < spin && Atomics.load(ctrl, CTRL.SEQ) === seen; i++);
    while (Atomics.load(ctrl, CTRL.SEQ) === seen) Atomics.wait(ctrl, CTRL.SEQ, seen);
    seen = Atomics.load(ctrl, CTRL.SEQ);
    if (ctrl[CTRL.OP] === STOP_OP) return;
    try {
      drainJob(ctrl, floats, ctrl[CTRL.FMA] ? fma : plain);
    } catch (err) {
      // Reported through the block (the main thread is blocked and cannot take a message).
      const text = new TextEncoder().encode(String(err instanceof Error ? err.message : err));
      new Uint8Array(data.ctrl, CTRL.TEXT, CTRL.TEXT_BYTES).fill(0).set(text.subarray(0, CTRL.TEXT_BYTES));
      Atomics.store(ctrl, CTRL.ERROR, 1);
    }
    Atomics.add(ctrl, CTRL.DONE, 1);
    Atomics.notify(ctrl, CTRL.DONE);
  }
}

main(workerData as IntraOpWorkerData);
