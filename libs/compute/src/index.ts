// libs/compute: the compute engine. Backend selection, our wasm kernels (SIMD GEMM, gradients the
// wasm backend lacks, fused GELU, LayerNorm and GRN), the trainable-model contract, the reference CNN and
// worker-thread data parallelism and intra-op threads. It knows nothing of pHCC-SSL: libs/model builds on it, and the
// lint rule in eslint.config.mjs keeps it from importing the model, federation or apps.
export * from './select';
export { WASM_KERNEL_CONFIGS } from './wasm/register-kernels';
export type { WasmKernelConfig } from './wasm/kernel-config';
export { timeInnerKernels } from './wasm/wasm-ops';
export { fusedGelu, gelu, isMaskedGeluFused, maskedGelu, maskedGeluSwitch } from './ops/gelu';
export { fastGeluSwitch } from './wasm/kernels/gelu-helpers';
export { isLayerNormFused, layerNorm } from './ops/layer-norm';
export { grn, isGrnFused } from './ops/grn';
export { dense, fusedDenseSwitch, isDenseFused, maskedDense, maskedDenseSwitch } from './ops/dense';
export { gatherRows, rowKernelsAvailable, scatterRows } from './ops/rows';
export { depthwiseKept, depthwiseKeptSwitch, isDepthwiseKeptFused } from './ops/depthwise-kept';
export { fusedNormSwitch } from './ops/fused-norm-switch';
export { adamwSteps, squaredNorm, wasmAdamWAvailable, wasmAdamWSwitch } from './ops/adamw';
export type { AdamWHyper, AdamWItem } from './ops/adamw';
export { readInto } from './ops/read-into';
export { sharedSavesInstalled, sharedSavesSwitch } from './wasm/shared-saves';
export * from './trainable';
export * from './reference-cnn';
export * from './layer-zoo';
export * from './workers/data-parallel-trainer';
export * from './workers/protocol';
export { WorkerPool, workerScript } from './workers/pool';
export { IntraOpPool } from './wasm/threads/intra-op-pool';
export { intraOpPool, simdHelperSwitch } from './wasm/simd/helpers';
export type { WorkerFailure } from './workers/pool';
export * from './workers/shard-balancer';
export { registerTfjsCoreGradients } from './gradients/tfjs-core-gradients';
