import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { ReplacementKernelConfig } from '../kernel-config';
import { simdHelpers } from '../simd/helpers';
import { WasmOps } from '../wasm-ops';
import { GeluCalls, geluPasses } from './gelu-helpers';
import { keptRuns } from './PhccMaskedGelu';

/**
 * The gradient of `PhccMaskedGelu` (kernels/PhccMaskedGelu.ts) with respect to x as one kernel:
 * dx = gelu'(x) · dy on kept rows (PhccGelu's SIMD helper over each run), 0 on masked rows.
 */
export const PhccMaskedGeluGrad = 'PhccMaskedGeluGrad';

const maskedGeluBackward: KernelFunc = ({ inputs, backend }) => {
  const x = inputs.x as TensorInfo;
  const dy = inputs.dy as TensorInfo;
  const keep = inputs.keep as TensorInfo;
  const helpers: GeluCalls | undefined = simdHelpers(backend);
  if (!helpers) throw new Error(`${PhccMaskedGeluGrad} needs the wasm SIMD helpers`);
  const ops = new WasmOps(backend);
  const dx = ops.empty(x.shape);
  const channels = x.shape[x.shape.length - 1];
  const runs = keptRuns(PhccMaskedGeluGrad, x, keep, ops.view(keep));
  const xAt = ops.pointer(x);
  const dyAt = ops.pointer(dy);
  const dxAt = ops.pointer(dx);
  ops.view(dx).fill(0);
  const { backward } = geluPasses(helpers);
  for (let i = 0; i < runs.length; i += 2) {
    const offset = runs[i] * channels * 4;
    backward(xAt + offset, dyAt + offset, dxAt + offset, (runs[i + 1] - runs[i]) * channels);
  }
  return ops.finish(dx);
};

export const phccMaskedGeluGradConfig: ReplacementKernelConfig = {
  kernelName: PhccMaskedGeluGrad,
  backendName: 'wasm',
  kernelFunc: maskedGeluBackward,
};
