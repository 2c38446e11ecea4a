import * as tf from '@tensorflow/tfjs-core';
import { parentPort } from 'node:worker_threads';
import { initBackend } from '../select';
import { flattenVariables, toTensors, TrainableFactory, TrainableModel } from '../trainable';
import { FromWorker, OptimizerSpec, ToWorker } from './protocol';

/**
 * One data-parallel replica: its own tfjs engine and wasm instance (worker_threads do not share
 * them), its own copy of the weights, and the same optimizer as every other replica.
 */

let model: TrainableModel | undefined;
let optimizer: tf.Optimizer | undefined;

function post(msg: FromWorker, transfer: ArrayBuffer[] = []): void {
  parentPort!.postMessage(msg, transfer);
}

function makeOptimizer(spec: OptimizerSpec): tf.Optimizer {
  if (spec.kind === 'sgd') return tf.train.sgd(spec.learningRate);
  return tf.train.adam(spec.learningRate, spec.beta1, spec.beta2, spec.epsilon);
}

function ready(): { model: TrainableModel; optimizer: tf.Optimizer } {
  if (!model || !optimizer) throw new Error('worker used before init');
  return { model, optimizer };
}

/** One optimizer step with the summed gradient (the same on every replica). */
function applySum(gradients: Float32Array): void {
  const { model: m, optimizer: opt } = ready();
  let offset = 0;
  const named = m.variables.map((v) => {
    const tensor = tf.tensor(gradients.subarray(offset, offset + v.size), v.shape);
    offset += v.size;
    return { name: v.name, tensor };
  });
  opt.applyGradients(named);
  tf.dispose(named.map((n) => n.tensor));
}

async function handle(msg: ToWorker): Promise<void> {
  switch (msg.type) {
    case 'init': {
      const info = await initBackend({ backend: msg.backend, threads: msg.threads });
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const mod = require(msg.model.modulePath) as Record<string, unknown>;
      const factory = mod[msg.model.exportName ?? 'createTrainable'];
      if (typeof factory !== 'function') {
        throw new Error(
          `${msg.model.modulePath} exports no function ${msg.model.exportName ?? 'createTrainable'}`,
        );
      }
      model = (factory as TrainableFactory)(msg.model.config);
      optimizer = makeOptimizer(msg.optimizer);
      post({
        type: 'ready',
        parameters: model.variables.reduce((n, v) => n + v.size, 0),
        backend: info.name,
      });
      return;
    }
    case 'grads': {
      const { model: m } = ready();
      if (msg.apply) applySum(msg.apply);
      const started = performance.now();
      const shard = toTensors(msg.shard);
      const { value, grads } = tf.variableGrads(() => m.loss(shard), m.variables);
      const loss = (await value.data())[0];
      const flat = new Float32Array(m.variables.reduce((n, v) => n + v.size, 0));
      let offset = 0;
      for (const v of m.variables) {
        const scaled = tf.mul(grads[v.name], msg.weight);
        flat.set(scaled.dataSync() as Float32Array, offset);
        scaled.dispose();
        offset += v.size;
      }
      tf.dispose([value, ...Object.values(grads), ...Object.values(shard)]);
      post({ type: 'grads', loss, gradients: flat, computeMs: performance.now() - started }, [flat.buffer]);
      return;
    }
    case 'apply': {
      applySum(msg.gradients);
      post({ type: 'applied' });
      return;
    }
    case 'weights': {
      const weights = flattenVariables(ready().model.variables);
      post({ type: 'weights', weights }, [weights.buffer as ArrayBuffer]);
      return;
    }
  }
}

// Messages are handled one at a time, in order: the trainer never overlaps them.
let queue = Promise.resolve();
parentPort!.on('message', (msg: ToWorker) => {
  queue = queue.then(() =>
    handle(msg).catch((err: unknown) =>
      post({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
    ),
  );
});
