import { UnsortedSegmentSum } from '@tensorflow/tfjs-core';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import type { ReplacementKernelConfig } from '../kernel-config';
import { WasmOps } from '../wasm-ops';

/**
 * UnsortedSegmentSum (the gradient of gather, i.e. of embedding lookups) as a one-hot matmul:
 * out = onehot(ids)ᵀ · x. The segment counts in this model are small (phase embeddings, a few
 * classes), so the extra numSegments factor costs less than a round trip through JS. Ids outside
 * [0, numSegments) get an all-zero one-hot row and are dropped, as TensorFlow specifies.
 * Calls: wasm's own OneHot, Cast and BatchMatMul (so kernels/BatchMatMul.ts); no SIMD helper.
 */
const unsortedSegmentSum: KernelFunc = ({ inputs, attrs, backend }) => {
  const x = inputs.x as TensorInfo;
  const ids = inputs.segmentIds as TensorInfo;
  const { numSegments } = attrs as unknown as { numSegments: number };
  if (x.dtype !== 'float32') {
    throw new Error(`UnsortedSegmentSum on wasm supports float32 data (got ${x.dtype})`);
  }
  const ops = new WasmOps(backend);
  const rows = ids.shape.reduce((a, b) => a * b, 1);
  const inner = x.shape.slice(ids.shape.length);
  const innerSize = inner.reduce((a, b) => a * b, 1);
  const flatIds = ops.reshape(ids, [rows]);
  // wasm's OneHot writes int32 whatever dtype it is asked for, hence the explicit Cast.
  const oneHotInt = ops.run(
    'OneHot',
    { indices: flatIds },
    { depth: numSegments, onValue: 1, offValue: 0, dtype: 'int32' },
  );
  const oneHot = ops.run('Cast', { x: oneHotInt }, { dtype: 'float32' });
  const product = ops.run(
    'BatchMatMul',
    { a: ops.reshape(oneHot, [1, rows, numSegments]), b: ops.reshape(x, [1, rows, innerSize]) },
    { transposeA: true, transposeB: false },
  );
  return ops.finish(ops.reshape(product, [numSegments, ...inner]));
};

export const unsortedSegmentSumConfig: ReplacementKernelConfig = {
  kernelName: UnsortedSegmentSum,
  backendName: 'wasm',
  kernelFunc: unsortedSegmentSum,
};
