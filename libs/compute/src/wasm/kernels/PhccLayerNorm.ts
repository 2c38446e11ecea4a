import * as tf from '@tensorflow/tfjs-core';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { ReplacementKernelConfig } from '../kernel-config';
import { SimdHelpers, simdHelpers } from '../simd/helpers';
import { WasmOps } from '../wasm-ops';

/**
 * LayerNorm over the last (channel) axis with affine γ, β, forward as one wasm kernel of our own.
 * Composed from tfjs ops it is 9 kernels forward (each a pass over the activation, two of them
 * broadcasting per-row statistics) and 13 backward; this is one pass per row that stays in L1.
 * Outputs y and the per-row (mean, rstd) as [..., 2], which `PhccLayerNormGrad` reads instead
 * of a saved x̂ of the activation's size. Needs the SIMD helpers and channels a multiple of 4;
 * `fusedLayerNorm` (ops/layer-norm.ts) is the op that runs it and checks both.
 */
export const PhccLayerNorm = 'PhccLayerNorm';

/** The SIMD helper this kernel calls (signature in simd/helpers.ts). */
type Calls = Pick<SimdHelpers, 'layerNormForward'>;

const layerNormForward: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, gamma, beta } = inputs as Record<'x' | 'gamma' | 'beta', TensorInfo>;
  const epsilon = (attrs as { epsilon: number }).epsilon;
  const helpers: Calls | undefined = simdHelpers(backend);
  if (!helpers) throw new Error(`${PhccLayerNorm} needs the wasm SIMD helpers`);
  const channels = x.shape[x.shape.length - 1];
  if (channels % 4 !== 0) throw new Error(`${PhccLayerNorm}: channels ${channels} not a multiple of 4`);
  const ops = new WasmOps(backend);
  const y = ops.empty(x.shape);
  const stats = ops.empty([...x.shape.slice(0, -1), 2]);
  const rows = tf.util.sizeFromShape(x.shape) / channels;
  helpers.layerNormForward(
    ops.pointer(x),
    ops.pointer(gamma),
    ops.pointer(beta),
    ops.pointer(y),
    ops.pointer(stats),
    rows,
    channels,
    epsilon,
  );
  return ops.finishAll([y, stats]);
};

export const phccLayerNormConfig: ReplacementKernelConfig = {
  kernelName: PhccLayerNorm,
  backendName: 'wasm',
  kernelFunc: layerNormForward,
};
