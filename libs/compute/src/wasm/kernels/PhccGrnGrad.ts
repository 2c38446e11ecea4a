import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { ReplacementKernelConfig } from '../kernel-config';
import { SimdHelpers, simdHelpers } from '../simd/helpers';
import { WasmOps } from '../wasm-ops';

/**
 * The gradient of `PhccGrn` (kernels/PhccGrn.ts) as one wasm kernel: dx, dγ and dβ from x, dy, γ
 * and the forward's norms g and denominators d, two passes over each image (split over intra-op
 * threads by images), then dγ and dβ summed over the images in order in float64.
 */
export const PhccGrnGrad = 'PhccGrnGrad';

/** The SIMD helper this kernel calls (signature in simd/helpers.ts). */
type Calls = Pick<SimdHelpers, 'grnBackwardImages' | 'sumShares'>;

const grnBackward: KernelFunc = ({ inputs, backend }) => {
  const { x, dy, gamma, norms, denom } = inputs as Record<
    'x' | 'dy' | 'gamma' | 'norms' | 'denom',
    TensorInfo
  >;
  const helpers: Calls | undefined = simdHelpers(backend);
  if (!helpers) throw new Error(`${PhccGrnGrad} needs the wasm SIMD helpers`);
  const [batch, h, w, channels] = x.shape;
  if (x.shape.length !== 4 || channels % 4 !== 0)
    throw new Error(`${PhccGrnGrad}: needs NHWC with channels a multiple of 4, got [${x.shape.join(', ')}]`);
  const ops = new WasmOps(backend);
  const dx = ops.empty(x.shape);
  const dGamma = ops.empty([channels]);
  const dBeta = ops.empty([channels]);
  // Per image 4·c floats: s and t (which end as the image's shares of dγ and dβ), then dx's two
  // coefficients; so the shares are 4·c floats apart.
  const scratch = ops.empty([batch, 4 * channels]);
  const totals = ops.empty([4 * channels]);
  helpers.grnBackwardImages(
    ops.pointer(x),
    ops.pointer(dy),
    ops.pointer(gamma),
    ops.pointer(norms),
    ops.pointer(denom),
    ops.pointer(dx),
    ops.pointer(scratch),
    batch,
    h * w,
    channels,
  );
  helpers.sumShares(
    ops.pointer(scratch),
    ops.pointer(dGamma),
    ops.pointer(dBeta),
    ops.pointer(totals),
    batch,
    channels,
    4 * channels * 4,
  );
  return ops.finishAll([dx, dGamma, dBeta]);
};

export const phccGrnGradConfig: ReplacementKernelConfig = {
  kernelName: PhccGrnGrad,
  backendName: 'wasm',
  kernelFunc: grnBackward,
};
