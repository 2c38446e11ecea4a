import type { HostBatch } from '../trainable';

/** How replicas update their weights; every replica builds the same optimizer from this. */
export type OptimizerSpec =
  | { kind: 'sgd'; learningRate: number }
  | { kind: 'adam'; learningRate: number; beta1?: number; beta2?: number; epsilon?: number };

/** Where a worker finds the network: a module exporting a `TrainableFactory`. */
export interface ModelSpec<Config = unknown> {
  /** Absolute path of the module (its .ts file under ts-jest, its .js file in dist). */
  modulePath: string;
  /** The factory's export name (default `createTrainable`). */
  exportName?: string;
  /** Plain JSON handed to the factory; it must seed its weight initialisation from it. */
  config: Config;
}

export type ToWorker =
  | { type: 'init'; backend: string; threads: number; model: ModelSpec; optimizer: OptimizerSpec }
  /**
   * Gradient of the shard's mean loss, scaled by `weight` (the shard's share of the batch).
   * `apply`: the previous step's summed gradient, applied first (saves a round trip per step).
   */
  | { type: 'grads'; shard: HostBatch; weight: number; apply?: Float32Array }
  /** The summed gradient, one SharedArrayBuffer read by every replica. */
  | { type: 'apply'; gradients: Float32Array }
  | { type: 'weights' };

export type FromWorker =
  | { type: 'ready'; parameters: number; backend: string }
  | { type: 'grads'; loss: number; gradients: Float32Array; computeMs: number }
  | { type: 'applied' }
  | { type: 'weights'; weights: Float32Array }
  | { type: 'error'; message: string };
