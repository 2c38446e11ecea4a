import { parentPort } from 'node:worker_threads';
import { initBackend } from '../../../compute/src';
import { PhccModel } from '../network/model';
import type { ReplicaReply, ReplicaRequest } from './parallel';
import { shardGradient } from './shard';
import { writeWeights } from './weights-buffer';

/**
 * One gradient replica of `ShardedStepper`: its own tfjs engine and wasm instance (worker threads
 * share neither). It holds no optimiser state: every request brings the current weights, so the
 * main thread's model and AdamW stay the only authority.
 */

let model: PhccModel | undefined;
/** The weights the replica's model holds now (as last written), to skip unchanged ones. */
let held: Float32Array | undefined;

function post(msg: ReplicaReply): void {
  parentPort!.postMessage(msg);
}

async function handle(msg: ReplicaRequest): Promise<void> {
  if (msg.type === 'init') {
    const info = await initBackend({ backend: msg.backend, threads: 1 });
    model = new PhccModel(msg.config, 0);
    held = undefined;
    post({ type: 'ready', names: model.params.names(), backend: info.name });
    return;
  }
  if (!model) throw new Error('replica used before init');
  const started = performance.now();
  held = writeWeights(model.params, msg.weights, held);
  const written = performance.now();
  // Straight into the buffer the main thread shares with this replica: nothing to allocate,
  // copy again or transfer.
  const shard = shardGradient(model, msg.step, msg.gradients);
  const done = performance.now();
  const length = [...shard.grads.values()].reduce((n, g) => n + g.length, 0);
  post({
    type: 'grads',
    loss: shard.loss,
    weight: shard.weight,
    length,
    computeMs: done - started,
    phases: {
      receivedAt: performance.timeOrigin + started,
      writeMs: written - started,
      gradMs: done - written,
      sentAt: performance.timeOrigin + done,
    },
  });
}

// One request at a time, in order: the stepper never overlaps them on one replica.
let queue = Promise.resolve();
parentPort!.on('message', (msg: ReplicaRequest) => {
  queue = queue.then(() =>
    handle(msg).catch((err: unknown) =>
      post({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
    ),
  );
});
