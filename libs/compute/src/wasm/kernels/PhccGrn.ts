import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { ReplacementKernelConfig } from '../kernel-config';
import { SimdHelpers, simdHelpers } from '../simd/helpers';
import { WasmOps } from '../wasm-ops';

/**
 * Global Response Normalisation (ConvNeXt V2) on NHWC, forward as one wasm kernel of our own:
 * y = x·(γ·g/d + 1) + β with g = √(Σ_hw x² + normEpsilon) per image and channel and
 * d = mean_c g + epsilon. Composed from tfjs ops it is 11 kernels forward and 20 backward, each a
 * pass over the (4× widened) activation; this is two passes. Outputs y, g [B, 1, 1, C] and
 * d [B, 1, 1, 1] for `PhccGrnGrad`. Needs the SIMD helpers and channels a multiple of 4;
 * `fusedGrn` (ops/grn.ts) is the op that runs it and checks both.
 */
export const PhccGrn = 'PhccGrn';

/** The SIMD helper this kernel calls (signature in simd/helpers.ts). */
type Calls = Pick<SimdHelpers, 'grnForward'>;

const grnForward: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, gamma, beta } = inputs as Record<'x' | 'gamma' | 'beta', TensorInfo>;
  const { epsilon, normEpsilon } = attrs as { epsilon: number; normEpsilon: number };
  const helpers: Calls | undefined = simdHelpers(backend);
  if (!helpers) throw new Error(`${PhccGrn} needs the wasm SIMD helpers`);
  const [batch, h, w, channels] = x.shape;
  if (x.shape.length !== 4 || channels % 4 !== 0)
    throw new Error(`${PhccGrn}: needs NHWC with channels a multiple of 4, got [${x.shape.join(', ')}]`);
  const ops = new WasmOps(backend);
  const y = ops.empty(x.shape);
  const norms = ops.empty([batch, 1, 1, channels]);
  const denom = ops.empty([batch, 1, 1, 1]);
  const scratch = ops.empty([batch, channels]);
  helpers.grnForward(
    ops.pointer(x),
    ops.pointer(gamma),
    ops.pointer(beta),
    ops.pointer(y),
    ops.pointer(norms),
    ops.pointer(denom),
    ops.pointer(scratch),
    batch,
    h * w,
    channels,
    normEpsilon,
    epsilon,
  );
  return ops.finishAll([y, norms, denom]);
};

export const phccGrnConfig: ReplacementKernelConfig = {
  kernelName: PhccGrn,
  backendName: 'wasm',
  kernelFunc: grnForward,
};
