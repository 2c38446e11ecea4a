import { Identity } from '@tensorflow/tfjs-core';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { ReplacementKernelConfig } from '../kernel-config';

/**
 * Identity for wasm without a copy. tfjs's engine clones (runs Identity on) every activation a
 * gradient needs later; wasm's Identity copies the data, which costs ~2–10 % of a training step.
 * Tensors are immutable and wasm kernels never write into inputs, so sharing the buffer with a
 * reference count — what the cpu backend and wasm's own Reshape do — is safe.
 * Calls: the backend's reference count only.
 */
const shareIdentity: KernelFunc = ({ inputs, backend }) => {
  const x = inputs.x as TensorInfo;
  (backend as { incRef(dataId: object): void }).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
};

export const identityConfig: ReplacementKernelConfig = {
  kernelName: Identity,
  backendName: 'wasm',
  kernelFunc: shareIdentity,
};
