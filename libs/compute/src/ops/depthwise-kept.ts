import * as tf from '@tensorflow/tfjs-core';
import { simdHelpers } from '../wasm/simd/helpers';
import { PhccDepthwiseKept } from '../wasm/kernels/PhccDepthwiseKept';
import { DepthwiseKeptPart, PhccDepthwiseKeptGrad } from '../wasm/kernels/PhccDepthwiseKeptGrad';
import { scatterRows } from './rows';

/**
 * The sparse depthwise conv of a masked encoder block: the rows `keep` keeps of
 * depthwiseConv2d(x ⊙ keep, filter, 1, 'same') + bias, as a compact [kept, C] matrix (the rows in
 * NHWC order, as `gatherRows` gives them). On wasm one kernel each way that computes the kept
 * pixels only (kernels/PhccDepthwiseKept.ts); elsewhere the composed ops.
 */
/**
 * Switch for the one-kernel sparse depthwise conv: `PHCC_SPARSE_DEPTHWISE=0` (or the tests' and
 * before/after bench's `enabled`) leaves `isDepthwiseKeptFused` false, so callers take their
 * composed path (the masked encoder: every pixel's conv, then the kept rows gathered).
 */
export const depthwiseKeptSwitch = { enabled: process.env.PHCC_SPARSE_DEPTHWISE !== '0' };

function registerDepthwiseKeptGradient(): void {
  if (tf.getGradient(PhccDepthwiseKept)) return;
  tf.registerGradient({
    kernelName: PhccDepthwiseKept,
    inputsToSave: ['x', 'filter', 'keep'],
    gradFunc: (dy, saved) => {
      const [x, filter, keep] = saved;
      // dy's rows spread over the map once, for both the input and the filter gradient: here,
      // not in a part's thunk, whose intermediates the engine disposes when the thunk returns.
      const spread = scatterRows(dy as tf.Tensor, keep, x.shape);
      const grad = (part: DepthwiseKeptPart) => () =>
        tf
          .engine()
          .runKernel(
            PhccDepthwiseKeptGrad,
            { dy: dy as tf.Tensor, spread, x, filter, keep },
            { part },
          ) as tf.Tensor;
      return {
        x: grad('x'),
        filter: grad('filter'),
        bias: () => tf.sum(dy as tf.Tensor, 0),
        keep: () => tf.zerosLike(keep),
      };
    },
  });
}

/** Whether the one-kernel sparse depthwise conv runs here (wasm with the SIMD helpers, float32, C % 4 = 0). */
export function isDepthwiseKeptFused(x: tf.Tensor, filter: tf.Tensor, keep: tf.Tensor): boolean {
  return (
    depthwiseKeptSwitch.enabled &&
    x.dtype === 'float32' &&
    keep.dtype === 'float32' &&
    x.rank === 4 &&
    (x.shape[3] as number) % 4 === 0 &&
    filter.rank === 4 &&
    filter.shape[3] === 1 &&
    tf.getBackend() === 'wasm' &&
    tf.getKernel(PhccDepthwiseKept, 'wasm') !== undefined &&
    simdHelpers(tf.backend()) !== undefined
  );
}

export function depthwiseKept(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  bias: tf.Tensor,
  keep: tf.Tensor4D,
): tf.Tensor2D {
  if (keep.rank !== 4 || keep.shape[3] !== 1 || x.shape.slice(0, 3).some((n, i) => keep.shape[i] !== n))
    throw new Error(`depthwiseKept: keep map [${keep.shape}] is not [${x.shape.slice(0, 3)}, 1]`);
  if (isDepthwiseKeptFused(x, filter, keep)) {
    registerDepthwiseKeptGradient();
    return tf.engine().runKernel(PhccDepthwiseKept, { x, filter, bias, keep }) as tf.Tensor2D;
  }
  return tf.tidy(() => {
    const y = tf.add(tf.depthwiseConv2d(tf.mul(x, keep) as tf.Tensor4D, filter, 1, 'same'), bias);
    const values = keep.dataSync();
    const rows: number[] = [];
    for (let i = 0; i < values.length; i++) if (values[i] !== 0) rows.push(i);
    return tf.gather(tf.reshape(y, [-1, x.shape[3]]), tf.tensor1d(rows, 'int32')) as tf.Tensor2D;
  });
}
