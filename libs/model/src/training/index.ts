export * from './types';
export * from './augment';
export * from './losses';
export * from './optimizer';
export * from './steps';
export * from './dp-sgd';
export * from './loops';
export * from './synthetic';
export {
  recommendedReplicas,
  ShardedStepper,
  type ShardedStepperOptions,
  type StepExecutor,
} from './parallel';
export type { StepSpec } from './shard';
// Not `export *`: the backend's reference CNN also exports a `createTrainable` for its workers.
export { createPhccTrainable, phccTrainableModulePath, type PhccTrainableConfig } from './trainable';
export * from './label-subset';
