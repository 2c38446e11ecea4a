import * as tf from '@tensorflow/tfjs-core';
import { PhccGatherRows } from '../wasm/kernels/PhccGatherRows';
import { PhccScatterRows } from '../wasm/kernels/PhccScatterRows';

/**
 * Row selection by a keep map, for running a per-row (per-position) layer on the rows that count
 * only. Each is the other's gradient: a gather's gradient scatters dy back (zero at the dropped
 * rows), a scatter's gathers it. The keep map is data (an SSL mask), never differentiated.
 */
function registerRowGradients(): void {
  if (tf.getGradient(PhccGatherRows)) return;
  tf.registerGradient({
    kernelName: PhccGatherRows,
    inputsToSave: ['x', 'keep'],
    gradFunc: (dy, saved) => {
      const [x, keep] = saved;
      return {
        x: () => scatterRows(dy as tf.Tensor, keep, x.shape),
        keep: () => tf.zerosLike(keep),
      };
    },
  });
  tf.registerGradient({
    kernelName: PhccScatterRows,
    inputsToSave: ['keep'],
    gradFunc: (dy, saved) => {
      const [keep] = saved;
      return { x: () => gatherRows(dy as tf.Tensor, keep), keep: () => tf.zerosLike(keep) };
    },
  });
}

/** Whether the row kernels run here (wasm, float32). */
export function rowKernelsAvailable(x: tf.Tensor, keep: tf.Tensor): boolean {
  return (
    x.dtype === 'float32' &&
    keep.dtype === 'float32' &&
    tf.getBackend() === 'wasm' &&
    tf.getKernel(PhccGatherRows, 'wasm') !== undefined
  );
}

/** The rows of x [..., C] where keep (one value per row) is nonzero: [kept, C]. wasm only. */
export function gatherRows(x: tf.Tensor, keep: tf.Tensor): tf.Tensor2D {
  registerRowGradients();
  return tf.engine().runKernel(PhccGatherRows, { x, keep }) as tf.Tensor2D;
}

/** x [kept, C] at the kept rows of a new `shape` tensor [..., C], zero elsewhere. wasm only. */
export function scatterRows(x: tf.Tensor, keep: tf.Tensor, shape: number[]): tf.Tensor {
  registerRowGradients();
  return tf.engine().runKernel(PhccScatterRows, { x, keep }, { shape }) as tf.Tensor;
}
