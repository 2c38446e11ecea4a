import { backend_util } from '@tensorflow/tfjs-core';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { im2colLimit } from './conv-filter-im2col';
import { SimdHelpers, simdHelpers } from './simd/helpers';
import { WasmOps } from './wasm-ops';

/** k-chunk of the GEMM (see conv-filter-im2col.ts). */
const GEMM_KC = 256;

interface Conv2DAttrs {
  strides: number | [number, number];
  pad: backend_util.ExplicitPadding | 'same' | 'valid' | number;
  dataFormat?: 'NHWC' | 'NCHW';
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/**
 * Forward Conv2D for wasm as our packed GEMM: out[pixels, Cout] = im2col(x)[pixels, kh·kw·Cin] ·
 * W[kh·kw·Cin, Cout], the im2col packed four output pixels at a time (their channel runs
 * transposed in registers) and W into 8-column panels. XNNPACK's conv has no FMA in this build
 * and ran the reference CNN's 3×3 layers at 12–24 GFLOP/s, against 13–33 here (min of 8, same
 * process). Dilated or NCHW convs, fewer than 8 output channels, and any call without the SIMD
 * helpers go to wasm's own kernel. The input gradient's phase convs (conv-backprop.ts) call
 * Conv2D, so they run on this GEMM too.
 */
export function makeConv2D(original: KernelFunc): KernelFunc {
  return (args) => {
    const x = args.inputs.x as TensorInfo;
    const filter = args.inputs.filter as TensorInfo;
    const attrs = args.attrs as unknown as Conv2DAttrs;
    const helpers = simdHelpers(args.backend);
    const dilations = attrs.dilations ?? 1;
    const dilated = typeof dilations === 'number' ? dilations !== 1 : dilations.some((d) => d !== 1);
    // Fewer than 8 output channels would leave most of each 8-column panel empty (e.g. the input
    // gradient of a 4-channel stem): XNNPACK is faster there.
    if (
      !helpers ||
      dilated ||
      (attrs.dataFormat ?? 'NHWC') !== 'NHWC' ||
      x.dtype !== 'float32' ||
      filter.shape[3] < 8
    ) {
      return original(args);
    }
    const info = backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      filter.shape as [number, number, number, number],
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
      false,
      'channelsLast',
    );
    const ops = new WasmOps(args.backend);
    const [n, h, w, cin] = x.shape;
    const [kh, kw, , cout] = filter.shape;
    const { outHeight: ho, outWidth: wo } = info;
    const geometry: ConvGeometry = {
      n,
      h,
      w,
      cin,
      ho,
      wo,
      kh,
      kw,
      cout,
      stride: [info.strideHeight, info.strideWidth],
      pad: [info.padInfo.top, info.padInfo.left],
    };
    return ops.finish(ops.reshape(convGemm(helpers, ops, x, filter, geometry), [n, ho, wo, cout]));
  };
}

/** A convolution's shape, as the GEMM packers take it (NHWC x, [kh, kw, cin, cout] filter). */
export interface ConvGeometry {
  n: number;
  h: number;
  w: number;
  cin: number;
  ho: number;
  wo: number;
  kh: number;
  kw: number;
  cout: number;
  stride: [number, number];
  pad: [number, number];
}

/**
 * out [n·ho·wo, cout] = im2col(x) · W on our GEMM, in chunks of output pixels whose packed im2col
 * stays under `im2colLimit.packed`. A plain matmul A [rows, k] · B [k, n] is the 1×1 conv over one
 * image row of `rows` pixels with k channels.
 */
export function convGemm(
  helpers: SimdHelpers,
  ops: WasmOps,
  x: TensorInfo,
  filter: TensorInfo,
  g: ConvGeometry,
): TensorInfo {
  const pixels = g.n * g.ho * g.wo;
  const k = g.kh * g.kw * g.cin;
  const groups = Math.ceil(pixels / 4);
  const panels = Math.ceil(g.cout / 8);
  const zeros = ops.empty([Math.ceil(g.cin / 4) * 4]);
  helpers.fillZero(ops.pointer(zeros), zeros.shape[0]);
  const bp = ops.empty([panels, k, 8]);
  helpers.packPanels8(ops.pointer(filter), ops.pointer(bp), k, g.cout);
  const c = ops.empty([groups * 4, panels * 8]);
  helpers.fillZero(ops.pointer(c), groups * 4 * panels * 8);
  // Pixels per chunk: a multiple of 4 whose packed im2col stays under the cap.
  const chunk = Math.max(4, Math.floor(im2colLimit.packed / k / 4) * 4);
  for (let p0 = 0; p0 < pixels; p0 += chunk) {
    const count = Math.min(chunk, pixels - p0);
    const chunkGroups = Math.ceil(count / 4);
    const ap = ops.empty([chunkGroups, k, 4]);
    helpers.packConvRows4(
      ops.pointer(x),
      ops.pointer(zeros),
      ops.pointer(ap),
      p0,
      count,
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
    const cRows = ops.pointer(c) + p0 * panels * 8 * 4;
    helpers.gemm(ops.pointer(ap), ops.pointer(bp), cRows, chunkGroups, panels, k, GEMM_KC);
    ops.dispose(ap);
  }
  if (groups * 4 === pixels && panels * 8 === g.cout) return ops.reshape(c, [pixels, g.cout]);
  const out = ops.empty([pixels, g.cout]);
  helpers.extractRows(ops.pointer(c), ops.pointer(out), 1, groups * 4, pixels, panels * 8, g.cout);
  return out;
}
