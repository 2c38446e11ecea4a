import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { ReplacementKernelConfig } from '../kernel-config';
import { simdHelpers } from '../simd/helpers';
import { WasmOps } from '../wasm-ops';
import { fastGeluSwitch, GeluCalls, geluPasses } from './gelu-helpers';
import { badKeepValue, checkKeepShape, keptRuns } from './PhccMaskedGelu';

/**
 * The gradient of `PhccMaskedGelu` (kernels/PhccMaskedGelu.ts) with respect to x as one kernel:
 * dx = gelu'(x) · dy on kept rows, 0 on masked rows, in one SIMD helper call as the forward.
 */
export const PhccMaskedGeluGrad = 'PhccMaskedGeluGrad';

const maskedGeluBackward: KernelFunc = ({ inputs, backend }) => {
  const x = inputs.x as TensorInfo;
  const dy = inputs.dy as TensorInfo;
  const keep = inputs.keep as TensorInfo;
  const helpers: GeluCalls | undefined = simdHelpers(backend);
  if (!helpers) throw new Error(`${PhccMaskedGeluGrad} needs the wasm SIMD helpers`);
  checkKeepShape(PhccMaskedGeluGrad, x, keep);
  const ops = new WasmOps(backend);
  // The previous helpers' runs, found (and the keep values checked) before anything is allocated.
  const runs = fastGeluSwitch.fast ? undefined : keptRuns(PhccMaskedGeluGrad, ops.view(keep));
  const dx = ops.empty(x.shape);
  const channels = x.shape[x.shape.length - 1];
  const rows = keep.shape.reduce((a, b) => a * b, 1);
  const xAt = ops.pointer(x);
  const dyAt = ops.pointer(dy);
  const dxAt = ops.pointer(dx);
  if (!runs) {
    const bad = helpers.geluBackwardRows(xAt, dyAt, dxAt, ops.pointer(keep), rows, channels);
    if (bad >= 0) {
      const value = ops.view(keep)[bad];
      ops.finishAll([]);
      throw badKeepValue(PhccMaskedGeluGrad, value, bad);
    }
    return ops.finish(dx);
  }
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
