// Compute backend: selection, wasm replacement kernels, the trainable-model contract, the
// reference CNN and worker-thread data parallelism.
export * from './select';
export * from './wasm-gradients';
export { timeInnerKernels } from './wasm-ops';
export * from './trainable';
export * from './reference-cnn';
export * from './layer-zoo';
export * from './workers/data-parallel-trainer';
export * from './workers/protocol';
export { registerTfjsCoreGradients } from './gradients/tfjs-core-gradients';
