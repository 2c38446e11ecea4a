import {
  BatchMatMul,
  Conv2D,
  Conv2DBackpropFilter,
  Conv2DBackpropInput,
  DepthwiseConv2dNative,
  DepthwiseConv2dNativeBackpropFilter,
  DepthwiseConv2dNativeBackpropInput,
} from '@tensorflow/tfjs-core';
import { PhccDense } from '../../../../libs/compute/src/wasm/kernels/PhccDense';
import { PhccDenseGrad } from '../../../../libs/compute/src/wasm/kernels/PhccDenseGrad';
import { PhccDepthwiseKept } from '../../../../libs/compute/src/wasm/kernels/PhccDepthwiseKept';
import { PhccDepthwiseKeptGrad } from '../../../../libs/compute/src/wasm/kernels/PhccDepthwiseKeptGrad';
import { PhccGelu } from '../../../../libs/compute/src/wasm/kernels/PhccGelu';
import { PhccGeluGrad } from '../../../../libs/compute/src/wasm/kernels/PhccGeluGrad';
import { PhccGrn } from '../../../../libs/compute/src/wasm/kernels/PhccGrn';
import { PhccGrnGrad } from '../../../../libs/compute/src/wasm/kernels/PhccGrnGrad';
import { PhccLayerNorm } from '../../../../libs/compute/src/wasm/kernels/PhccLayerNorm';
import { PhccLayerNormGrad } from '../../../../libs/compute/src/wasm/kernels/PhccLayerNormGrad';
import { PhccMaskedGelu } from '../../../../libs/compute/src/wasm/kernels/PhccMaskedGelu';
import { PhccMaskedGeluGrad } from '../../../../libs/compute/src/wasm/kernels/PhccMaskedGeluGrad';

/**
 * The kernel classes of a pHCC-SSL training step (issue #19) and the work each kernel call does,
 * from the shapes `tf.profile` records (its records carry no attributes: transposes, strides and
 * paddings are not known, so every count here is written so that it does not need them).
 *
 * GEMM-like classes count multiply-adds (FLOPs = 2 × MACs), to be set against the wasm GEMM's
 * ceiling; elementwise classes count the elements they write and the bytes they move, because
 * their speed is bounded by memory, not arithmetic.
 */

export type KernelClass = 'gemm' | 'batchedGemm' | 'conv' | 'depthwise' | 'gelu' | 'norms' | 'other';

/** Display order and labels; `compute` classes are reported in GFLOP/s, the rest in GB/s. */
export const KERNEL_CLASSES: readonly { id: KernelClass; label: string; compute: boolean }[] = [
  { id: 'gemm', label: 'pointwise GEMM (PhccDense / BatchMatMul 2-D: forward, dx, dW)', compute: true },
  { id: 'batchedGemm', label: 'batched GEMM (head pooling, attention)', compute: true },
  { id: 'conv', label: 'stem/downsampling conv (Conv2D, backprop input/filter)', compute: true },
  { id: 'depthwise', label: 'depthwise conv (forward, backprop input/filter)', compute: true },
  { id: 'gelu', label: 'GELU (forward, gradient)', compute: false },
  { id: 'norms', label: 'LayerNorm + GRN (forward, gradient)', compute: false },
  {
    id: 'other',
    label:
      'elementwise/other (masks, row gathers/scatters, residuals, bias sums, slices, casts, loss, AdamW)',
    compute: false,
  },
];

/** What the profiler records of one kernel call (a subset of tfjs's KernelInfo). */
export interface KernelShapes {
  name: string;
  inputShapes: (number[] | null)[];
  outputShapes: (number[] | null)[];
}

const CONV = new Set<string>([Conv2D, Conv2DBackpropInput, Conv2DBackpropFilter]);
const DEPTHWISE = new Set<string>([
  DepthwiseConv2dNative,
  DepthwiseConv2dNativeBackpropInput,
  DepthwiseConv2dNativeBackpropFilter,
]);
const GELU = new Set<string>([PhccGelu, PhccGeluGrad, PhccMaskedGelu, PhccMaskedGeluGrad]);
const NORMS = new Set<string>([PhccLayerNorm, PhccLayerNormGrad, PhccGrn, PhccGrnGrad]);

const size = (shape: number[] | null | undefined): number => (shape ?? []).reduce((p, q) => p * q, 1);

function shapeAt(k: KernelShapes, which: 'inputShapes' | 'outputShapes', i: number): number[] {
  const shape = k[which][i];
  if (!shape) throw new Error(`${k.name}: the profile records no ${which}[${i}]`);
  return shape;
}

/**
 * A dense layer flattens its input to 2-D ([rows, cin] · [cin, cout], layers.ts), and so do its
 * gradients (dy · Wᵀ, xᵀ · dy): rank-2 BatchMatMuls are the pointwise layers (and the head's few
 * dense layers); higher ranks are the head's per-patient pooling and attention.
 */
export function kernelClass(k: KernelShapes): KernelClass {
  if (k.name === PhccDense) return 'gemm';
  // The one-dispatch dense layer's gradient: dx or dW is a GEMM; db (rank 1) is a column sum.
  if (k.name === PhccDenseGrad) return shapeAt(k, 'outputShapes', 0).length >= 2 ? 'gemm' : 'other';
  if (k.name === BatchMatMul) return shapeAt(k, 'outputShapes', 0).length <= 2 ? 'gemm' : 'batchedGemm';
  if (CONV.has(k.name)) return 'conv';
  if (DEPTHWISE.has(k.name) || k.name === PhccDepthwiseKept) return 'depthwise';
  if (k.name === PhccDepthwiseKeptGrad) return 'depthwise';
  if (GELU.has(k.name)) return 'gelu';
  if (NORMS.has(k.name)) return 'norms';
  return 'other';
}

/**
 * Floating-point operations of one GEMM-like call (2 per multiply-add), 0 for other kernels.
 *
 * - BatchMatMul: out [..., M, N] from a [..., M, K] or its transpose [..., K, M]: either way K is
 *   a's last two dimensions' product over M, and FLOPs = 2 · batch · M · N · K.
 * - Conv2D and both its gradients do the forward's multiply-adds: every output position of the
 *   forward (dy's elements over Cout) meets the whole filter (kh · kw · Cin · Cout):
 *   FLOPs = 2 · size(dy) / Cout · size(filter). Forward inputs {x, filter} → output y;
 *   backprop input {dy, filter}; backprop filter {x, dy} → output filter (tfjs's op input order).
 * - Depthwise and its gradients: each forward output element takes kh · kw multiply-adds:
 *   FLOPs = 2 · size(y or dy) · kh · kw, the filter being [kh, kw, C, multiplier]. The sparse
 *   depthwise conv (PhccDepthwiseKept {x, filter, bias, keep} → y [kept, C]; its gradient
 *   {dy [kept, C], spread, x, filter, keep} → dx or dW) computes the kept pixels only: the same
 *   with y or dy its compact rows.
 * - PhccDense {x [..., K], kernel [K, N], bias}: 2 · size(x) · N (the bias add is left out, as
 *   for the composed layer's Add). PhccDenseGrad {dy [..., N], x, kernel [K, N]} makes one of dx,
 *   dW (each 2 · size(dy) · K) or db (a column sum: 0 here, booked as elementwise).
 */
export function kernelFlops(k: KernelShapes): number {
  switch (k.name) {
    case PhccDense: {
      const kernel = shapeAt(k, 'inputShapes', 1);
      return 2 * size(shapeAt(k, 'inputShapes', 0)) * kernel[1];
    }
    case PhccDenseGrad: {
      if (shapeAt(k, 'outputShapes', 0).length < 2) return 0;
      const kernel = shapeAt(k, 'inputShapes', 2);
      return 2 * size(shapeAt(k, 'inputShapes', 0)) * kernel[0];
    }
    case BatchMatMul: {
      const out = shapeAt(k, 'outputShapes', 0);
      const a = shapeAt(k, 'inputShapes', 0);
      const m = out[out.length - 2];
      const kDim = (a[a.length - 1] * a[a.length - 2]) / m;
      return 2 * size(out) * kDim;
    }
    case Conv2D:
      return convFlops(shapeAt(k, 'outputShapes', 0), shapeAt(k, 'inputShapes', 1));
    case Conv2DBackpropInput:
      return convFlops(shapeAt(k, 'inputShapes', 0), shapeAt(k, 'inputShapes', 1));
    case Conv2DBackpropFilter:
      return convFlops(shapeAt(k, 'inputShapes', 1), shapeAt(k, 'outputShapes', 0));
    case DepthwiseConv2dNative:
      return depthwiseFlops(shapeAt(k, 'outputShapes', 0), shapeAt(k, 'inputShapes', 1));
    case DepthwiseConv2dNativeBackpropInput:
      return depthwiseFlops(shapeAt(k, 'inputShapes', 0), shapeAt(k, 'inputShapes', 1));
    case DepthwiseConv2dNativeBackpropFilter:
      return depthwiseFlops(shapeAt(k, 'inputShapes', 1), shapeAt(k, 'outputShapes', 0));
    case PhccDepthwiseKept: {
      const filter = shapeAt(k, 'inputShapes', 1);
      return 2 * size(shapeAt(k, 'outputShapes', 0)) * filter[0] * filter[1];
    }
    case PhccDepthwiseKeptGrad: {
      const filter = shapeAt(k, 'inputShapes', 3);
      return 2 * size(shapeAt(k, 'inputShapes', 0)) * filter[0] * filter[1];
    }
    default:
      return 0;
  }
}

function convFlops(y: number[], filter: number[]): number {
  if (y.length !== 4 || filter.length !== 4)
    throw new Error(`conv shapes [${y}] and [${filter}] are not 4-D`);
  return (2 * size(y) * size(filter)) / filter[3];
}

function depthwiseFlops(y: number[], filter: number[]): number {
  if (y.length !== 4 || filter.length !== 4) {
    throw new Error(`depthwise shapes [${y}] and [${filter}] are not 4-D`);
  }
  return 2 * size(y) * filter[0] * filter[1];
}

/** Elements a call writes (all outputs) and reads (all inputs): the memory-bound classes' work. */
export function kernelElements(k: KernelShapes): { written: number; read: number } {
  const sum = (shapes: (number[] | null)[]) => shapes.reduce((t, s) => t + (s ? size(s) : 0), 0);
  return { written: sum(k.outputShapes), read: sum(k.inputShapes) };
}
