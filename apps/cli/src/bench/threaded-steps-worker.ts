import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, simdHelperSwitch } from '../../../../libs/compute/src';
import { PhccModel } from '../../../../libs/model/src/network';
import { AdamW, finetuneStep, sslStep } from '../../../../libs/model/src/training';
import type { StepSpec } from '../../../../libs/model/src/training/shard';
import type { ThreadedStage, ThreadedStepsReply, ThreadedStepsRequest } from './threaded-steps';

/**
 * A whole pHCC-SSL training step in a process-like worker whose wasm backend runs `threads`
 * intra-op threads (a worker thread has its own tfjs and wasm instance, so the bench's main
 * thread keeps its unthreaded backend for the one-core figures). What `train --wasm-threads N` runs.
 */
let model: PhccModel | undefined;
let optimizer: AdamW | undefined;
let specs: Record<StepSpec['stage'], StepSpec> | undefined;

/** A training step of `stage`, or (`infer`) the fine-tune batch's forward pass alone, as `predict` runs it. */
function step(stage: ThreadedStage, lr: number): void {
  const spec = specs![stage === 'infer' ? 'finetune' : stage];
  if (stage === 'infer') {
    const { batch } = spec as Extract<StepSpec, { stage: 'finetune' }>;
    const { phases, imageSize: s, inChannels: c } = model!.config;
    const logits = tf.tidy(() => model!.logits(tf.tensor5d(batch.patients, [batch.count, phases, s, s, c])));
    logits.dataSync();
    logits.dispose();
  } else if (spec.stage === 'ssl') sslStep(model!, optimizer!, spec.batch, spec.weighting, lr);
  else finetuneStep(model!, optimizer!, spec.batch, spec.options, lr);
}

async function handle(msg: ThreadedStepsRequest): Promise<ThreadedStepsReply> {
  if (msg.type === 'init') {
    const info = await initBackend({ backend: 'wasm', threads: msg.threads });
    model = new PhccModel(msg.config, 1);
    optimizer = new AdamW(model.params);
    specs = { ssl: msg.ssl, finetune: msg.finetune };
    return { type: 'ready', threads: info.threads, helpers: info.helpers ?? '' };
  }
  if (!specs) throw new Error('threaded-steps worker used before init');
  // Off: the same threaded backend with every call on this thread (the in-process comparison).
  simdHelperSwitch.intraOp = msg.intraOp;
  step(msg.stage, msg.lr);
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < msg.steps; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    step(msg.stage, msg.lr);
    wall.push((performance.now() - t0) / 1000);
    const used = process.cpuUsage(c0);
    cpu.push((used.user + used.system) / 1e6);
  }
  return { type: 'times', wall, cpu };
}

parentPort!.on('message', (msg: ThreadedStepsRequest) => {
  handle(msg).then(
    (reply) => parentPort!.postMessage(reply),
    (err: unknown) =>
      parentPort!.postMessage({ type: 'error', message: err instanceof Error ? err.message : String(err) }),
  );
});
