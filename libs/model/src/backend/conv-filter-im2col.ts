import type { TensorInfo } from '@tensorflow/tfjs-core';
import { SimdHelpers, simdHelpers } from './simd/helpers';
import { WasmOps } from './wasm-ops';

/**
 * Largest im2col buffer (float32 values) built at once for one filter gradient: 64 MiB. Larger
 * batches are done in chunks of whole images whose partial gradients are summed. Mutable so
 * tests can force chunking on small shapes.
 */
export const im2colLimit = { values: 16 * 1024 * 1024 };

/**
 * dW of a stride-s conv as plain matmuls: dW[kh·kw·Cin, Cout] = colsᵀ[kh·kw·Cin, K] · dy[K, Cout],
 * K = N·Ho·Wo, summed over chunks of images. XNNPACK's matmul is wasm's fastest kernel, and with
 * the large operand on the left it packs only the small dy; strides and padding cost nothing.
 * colsᵀ is written by the SIMD helpers from a channel-major copy of x (each row of colsᵀ is then
 * a run of strided copies of image rows), or by a JS loop when the helpers are unavailable.
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
  const taps = kh * kw * cin;
  const perImage = taps * ho * wo;
  const chunk = Math.max(1, Math.min(n, Math.floor(im2colLimit.values / perImage)));
  const helpers = simdHelpers(ops.backend);
  let xT: TensorInfo | undefined;
  if (helpers) {
    xT = ops.empty([cin, n, h, w]);
    helpers.toChannelMajor(ops.pointer(x), ops.pointer(xT), n * h * w, cin);
  }
  const geometry: Im2colGeometry = { n, h, w, cin, ho, wo, kh, kw, stride, pad };
  let sum: TensorInfo | undefined;
  for (let b0 = 0; b0 < n; b0 += chunk) {
    const nb = Math.min(chunk, n - b0);
    const k = nb * ho * wo;
    const colsT = ops.empty([1, taps, k]);
    if (helpers && xT) fillSimd(helpers, ops, xT, colsT, geometry, b0, nb);
    else fillJs(ops, x, colsT, geometry, b0, nb);
    const dyRows = nb === n ? dy : ops.slice(dy, [b0, 0, 0, 0], [nb, ho, wo, cout]);
    const part = ops.run(
      'BatchMatMul',
      { a: colsT, b: ops.reshape(dyRows, [1, k, cout]) },
      { transposeA: false, transposeB: false },
    );
    ops.dispose(colsT);
    if (sum) {
      const next = ops.run('Add', { a: sum, b: part });
      ops.dispose(sum);
      ops.dispose(part);
      sum = next;
    } else {
      sum = part;
    }
  }
  return ops.reshape(sum!, [kh, kw, cin, cout]);
}

interface Im2colGeometry {
  n: number;
  h: number;
  w: number;
  cin: number;
  ho: number;
  wo: number;
  kh: number;
  kw: number;
  stride: [number, number];
  pad: [number, number];
}

function fillSimd(
  helpers: SimdHelpers,
  ops: WasmOps,
  xT: TensorInfo,
  colsT: TensorInfo,
  g: Im2colGeometry,
  b0: number,
  nb: number,
): void {
  helpers.im2colT(
    ops.pointer(xT),
    ops.pointer(colsT),
    g.n,
    b0,
    nb,
    g.h,
    g.w,
    g.cin,
    g.ho,
    g.wo,
    g.kh,
    g.kw,
    g.stride[0],
    g.stride[1],
    g.pad[0],
    g.pad[1],
  );
}

/** The same colsᵀ from NHWC x in JS: one output column (K position) at a time. */
function fillJs(
  ops: WasmOps,
  x: TensorInfo,
  colsT: TensorInfo,
  g: Im2colGeometry,
  b0: number,
  nb: number,
): void {
  const { h, w, cin, ho, wo, kh, kw } = g;
  const [sh, sw] = g.stride;
  const [padT, padL] = g.pad;
  const k = nb * ho * wo;
  // Views after the last allocation: the heap may grow on allocation.
  const src = ops.view(x);
  const dst = ops.view(colsT);
  let row = 0;
  for (let b = b0; b < b0 + nb; b++) {
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
}
