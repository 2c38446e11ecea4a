import { Cast } from '@tensorflow/tfjs-core';
import type { DataType, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { WrappingKernelConfig } from '../kernel-config';

/**
 * Cast for wasm without a copy when the dtype does not change. tfjs's gradients of Mul, Div and
 * the broadcasting ops cast their float32 operands to float32 (≈ 120 Casts per pHCC-SSL training
 * step, each a full copy: 2–4 % of the step). A same-dtype cast is an identity, so it shares the
 * buffer with a reference count exactly as our Identity does; other casts stay wasm's.
 * Calls: wasm's Cast for real conversions; the backend's reference count otherwise.
 */
function makeCast(original: KernelFunc): KernelFunc {
  return (args) => {
    const x = args.inputs.x as TensorInfo;
    const { dtype } = args.attrs as unknown as { dtype: DataType };
    if (dtype !== x.dtype || dtype === 'string') return original(args);
    (args.backend as { incRef(dataId: object): void }).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
}

export const castConfig: WrappingKernelConfig = {
  kernelName: Cast,
  backendName: 'wasm',
  wrap: makeCast,
};
