import * as tf from '@tensorflow/tfjs-core';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { ReplacementKernelConfig } from '../kernel-config';
import { SimdHelpers, simdHelpers } from '../simd/helpers';
import { LN_BLOCK_ROWS } from '../simd/helpers-wat';
import { WasmOps } from '../wasm-ops';

/**
 * The gradient of `PhccLayerNorm` (kernels/PhccLayerNorm.ts) as one wasm kernel: dx, dγ and dβ
 * from x, dy, γ and the forward's per-row (mean, rstd), x̂ recomputed on the fly. dγ and dβ sum
 * over every row in float64 (blocks of 256 rows in float32), as our Sum kernel does: the blocks
 * first (split over intra-op threads), then their sums in block order.
 */
export const PhccLayerNormGrad = 'PhccLayerNormGrad';

/** The SIMD helper this kernel calls (signature in simd/helpers.ts). */
type Calls = Pick<SimdHelpers, 'layerNormBackwardBlocks' | 'sumShares'>;

const layerNormBackward: KernelFunc = ({ inputs, backend }) => {
  const { x, dy, gamma, stats } = inputs as Record<'x' | 'dy' | 'gamma' | 'stats', TensorInfo>;
  const helpers: Calls | undefined = simdHelpers(backend);
  if (!helpers) throw new Error(`${PhccLayerNormGrad} needs the wasm SIMD helpers`);
  const channels = x.shape[x.shape.length - 1];
  if (channels % 4 !== 0) throw new Error(`${PhccLayerNormGrad}: channels ${channels} not a multiple of 4`);
  const ops = new WasmOps(backend);
  const dx = ops.empty(x.shape);
  const dGamma = ops.empty([channels]);
  const dBeta = ops.empty([channels]);
  const rows = tf.util.sizeFromShape(x.shape) / channels;
  const blocks = Math.ceil(rows / LN_BLOCK_ROWS);
  const blockSums = ops.empty([Math.max(1, blocks), 2 * channels]);
  const totals = ops.empty([4 * channels]);
  helpers.layerNormBackwardBlocks(
    ops.pointer(x),
    ops.pointer(dy),
    ops.pointer(gamma),
    ops.pointer(stats),
    ops.pointer(dx),
    ops.pointer(blockSums),
    rows,
    channels,
  );
  helpers.sumShares(
    ops.pointer(blockSums),
    ops.pointer(dGamma),
    ops.pointer(dBeta),
    ops.pointer(totals),
    blocks,
    channels,
    2 * channels * 4,
  );
  return ops.finishAll([dx, dGamma, dBeta]);
};

export const phccLayerNormGradConfig: ReplacementKernelConfig = {
  kernelName: PhccLayerNormGrad,
  backendName: 'wasm',
  kernelFunc: layerNormBackward,
};
