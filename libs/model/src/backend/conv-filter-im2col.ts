import type { TensorInfo } from '@tensorflow/tfjs-core';
import { WasmOps } from './wasm-ops';

/**
 * Largest im2col buffer (float32 values) built for one filter gradient: 64 MiB by default.
 * Mutable so tests can force the memory-free fallback.
 */
export const im2colLimit = { values: 16 * 1024 * 1024 };

/** Values of the im2col buffer `conv2dFilterGradIm2col` would allocate. */
export function im2colValues(x: TensorInfo, dy: TensorInfo, filterShape: number[]): number {
  const [n, , , cin] = x.shape;
  const [, ho, wo] = dy.shape;
  return n * ho * wo * filterShape[0] * filterShape[1] * cin;
}

/**
 * dW of a stride-s conv as one plain matmul: dW[kh·kw·Cin, Cout] = colsᵀ[kh·kw·Cin, K] · dy[K, Cout],
 * K = N·Ho·Wo, with colsᵀ (im2col of x, transposed) written in JS straight from wasm memory.
 * XNNPACK's matmul is wasm's fastest kernel, and with the large operand on the left it packs
 * only the small dy; measured 1.2–1.5× faster per layer than the batch-swapped forward conv,
 * whose huge "filter" XNNPACK handles poorly. Strides and padding cost nothing here.
 */
export function conv2dFilterGradIm2col(
  ops: WasmOps,
  x: TensorInfo,
  dy: TensorInfo,
  filterShape: [number, number, number, number],
  stride: [number, number],
  pad: [number, number],
): TensorInfo {
  const [n, h, w, cin] = x.shape;
  const [, ho, wo, cout] = dy.shape;
  const [kh, kw] = filterShape;
  const [sh, sw] = stride;
  const [padT, padL] = pad;
  const k = n * ho * wo;
  const taps = kh * kw * cin;
  // colsᵀ [taps, K]: the large operand goes on the left, so XNNPACK packs only the small dy.
  const colsT = ops.empty([1, taps, k]);
  const dy3 = ops.reshape(dy, [1, k, cout]);
  // Views after the last allocation above: the heap may grow on allocation.
  const src = ops.view(x);
  const dst = ops.view(colsT);
  let row = 0;
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < ho; y++) {
      for (let xo = 0; xo < wo; xo++, row++) {
        let t = row;
        for (let i = 0; i < kh; i++) {
          const yy = y * sh + i - padT;
          const inY = yy >= 0 && yy < h;
          for (let j = 0; j < kw; j++) {
            const xx = xo * sw + j - padL;
            if (!inY || xx < 0 || xx >= w) {
              for (let c = 0; c < cin; c++, t += k) dst[t] = 0;
            } else {
              const s = ((b * h + yy) * w + xx) * cin;
              for (let c = 0; c < cin; c++, t += k) dst[t] = src[s + c];
            }
          }
        }
      }
    }
  }
  const grad = ops.run('BatchMatMul', { a: colsT, b: dy3 }, { transposeA: false, transposeB: false });
  return ops.reshape(grad, [kh, kw, cin, cout]);
}
