import type { KernelFunc } from '@tensorflow/tfjs-core';

/**
 * One wasm kernel of ours, in the shape of tfjs-backend-wasm's own `KernelConfig`: one kernel a
 * file under kernels/, named for the tfjs kernel it registers, all listed in register-kernels.ts.
 * A kernel either supplies its function (wasm lacks the kernel, or ours replaces it outright), or
 * wraps wasm's own kernel of that name, which it still calls for the shapes it does not handle.
 */
export type WasmKernelConfig = ReplacementKernelConfig | WrappingKernelConfig;

export interface ReplacementKernelConfig {
  kernelName: string;
  backendName: 'wasm';
  kernelFunc: KernelFunc;
}

export interface WrappingKernelConfig {
  kernelName: string;
  backendName: 'wasm';
  /** Builds the kernel from wasm's original (looked up once, when the kernels are registered). */
  wrap: (original: KernelFunc) => KernelFunc;
}
