import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { registerTfjsCoreGradients } from '../../../../libs/compute/src';
import { classTotals } from './kernel-classes';
import { kernelClass, kernelElements, kernelFlops, KernelShapes } from './kernel-flops';

const k = (name: string, inputShapes: number[][], outputShapes: number[][]): KernelShapes => ({
  name,
  inputShapes,
  outputShapes,
});

describe('kernel FLOP accounting (bench model kernel classes)', () => {
  beforeAll(async () => {
    registerTfjsCoreGradients();
    await tf.setBackend('cpu');
  });

  it('counts a 2-D GEMM as 2·M·N·K whether or not an operand is transposed', () => {
    // [6, 4] · [4, 3]: 6·3 outputs of 4 multiply-adds each.
    expect(
      kernelFlops(
        k(
          'BatchMatMul',
          [
            [6, 4],
            [4, 3],
          ],
          [[6, 3]],
        ),
      ),
    ).toBe(2 * 6 * 3 * 4);
    // aᵀ · b with a [4, 6] (a weight gradient xᵀ · dy): the same count.
    expect(
      kernelFlops(
        k(
          'BatchMatMul',
          [
            [4, 6],
            [4, 3],
          ],
          [[6, 3]],
        ),
      ),
    ).toBe(2 * 6 * 3 * 4);
    expect(
      kernelClass(
        k(
          'BatchMatMul',
          [
            [6, 4],
            [4, 3],
          ],
          [[6, 3]],
        ),
      ),
    ).toBe('gemm');
  });

  it('counts the one-dispatch dense layer and its gradients as the pointwise GEMMs they run', () => {
    // x [2, 5, 4] · W [4, 3] + b [3]: 10 rows × 3 outputs × 4 multiply-adds.
    const forward = k('PhccDense', [[2, 5, 4], [4, 3], [3]], [[2, 5, 3]]);
    expect([kernelClass(forward), kernelFlops(forward)]).toEqual(['gemm', 2 * 10 * 3 * 4]);
    // Gradient inputs {dy [2, 5, 3], x, kernel}: dx and dW each 2 · size(dy) · K; db a column sum.
    const grad = (out: number[]) =>
      k(
        'PhccDenseGrad',
        [
          [2, 5, 3],
          [2, 5, 4],
          [4, 3],
        ],
        [out],
      );
    expect([kernelClass(grad([2, 5, 4])), kernelFlops(grad([2, 5, 4]))]).toEqual(['gemm', 2 * 30 * 4]);
    expect([kernelClass(grad([4, 3])), kernelFlops(grad([4, 3]))]).toEqual(['gemm', 2 * 30 * 4]);
    expect([kernelClass(grad([3])), kernelFlops(grad([3]))]).toEqual(['other', 0]);
    expect(kernelClass(k('PhccMaskedGelu', [[8, 4], [8]], [[8, 4]]))).toBe('gelu');
  });

  it('counts a batched GEMM per batch and classes it apart from the pointwise layers', () => {
    const batched = k(
      'BatchMatMul',
      [
        [2, 5, 4],
        [2, 4, 3],
      ],
      [[2, 5, 3]],
    );
    expect(kernelFlops(batched)).toBe(2 * 2 * 5 * 3 * 4);
    expect(kernelClass(batched)).toBe('batchedGemm');
  });

  it('counts a strided conv and both its gradients as the forward multiply-adds', () => {
    // x [1, 8, 8, 3], 2×2 filter 3 → 5 with stride 2: 4·4 output positions × 2·2·3·5 MACs.
    const forward = 2 * 16 * 60;
    expect(
      kernelFlops(
        k(
          'Conv2D',
          [
            [1, 8, 8, 3],
            [2, 2, 3, 5],
          ],
          [[1, 4, 4, 5]],
        ),
      ),
    ).toBe(forward);
    expect(
      kernelFlops(
        k(
          'Conv2DBackpropInput',
          [
            [1, 4, 4, 5],
            [2, 2, 3, 5],
          ],
          [[1, 8, 8, 3]],
        ),
      ),
    ).toBe(forward);
    expect(
      kernelFlops(
        k(
          'Conv2DBackpropFilter',
          [
            [1, 8, 8, 3],
            [1, 4, 4, 5],
          ],
          [[2, 2, 3, 5]],
        ),
      ),
    ).toBe(forward);
    expect(kernelClass(k('Conv2DBackpropFilter', [], [[2, 2, 3, 5]]))).toBe('conv');
  });

  it('counts a 5×5 depthwise conv and its gradients as 25 multiply-adds per output element', () => {
    const forward = 2 * (6 * 6 * 4) * 25;
    const name = 'DepthwiseConv2dNative';
    expect(
      kernelFlops(
        k(
          name,
          [
            [1, 6, 6, 4],
            [5, 5, 4, 1],
          ],
          [[1, 6, 6, 4]],
        ),
      ),
    ).toBe(forward);
    expect(
      kernelFlops(
        k(
          `${name}BackpropInput`,
          [
            [1, 6, 6, 4],
            [5, 5, 4, 1],
          ],
          [[1, 6, 6, 4]],
        ),
      ),
    ).toBe(forward);
    expect(
      kernelFlops(
        k(
          `${name}BackpropFilter`,
          [
            [1, 6, 6, 4],
            [1, 6, 6, 4],
          ],
          [[5, 5, 4, 1]],
        ),
      ),
    ).toBe(forward);
    expect(kernelClass(k(name, [], [[1, 6, 6, 4]]))).toBe('depthwise');
  });

  it('counts the sparse depthwise conv and its gradients on the kept rows only', () => {
    // 7 kept pixels of a [1, 6, 6, 4] map, 5×5 filter.
    const kept = 2 * 7 * 4 * 25;
    const filter = [5, 5, 4, 1];
    const map = [1, 6, 6, 4];
    const forward = k('PhccDepthwiseKept', [map, filter, [4], [1, 6, 6, 1]], [[7, 4]]);
    expect(kernelFlops(forward)).toBe(kept);
    expect(kernelClass(forward)).toBe('depthwise');
    const grad = (out: number[]) =>
      k('PhccDepthwiseKeptGrad', [[7, 4], map, map, filter, [1, 6, 6, 1]], [out]);
    expect(kernelFlops(grad(map))).toBe(kept);
    expect(kernelFlops(grad(filter))).toBe(kept);
    expect(kernelClass(grad(filter))).toBe('depthwise');
  });

  it('gives elementwise classes no FLOPs but the elements they read and write', () => {
    for (const [name, cls] of [
      ['PhccGelu', 'gelu'],
      ['PhccGeluGrad', 'gelu'],
      ['PhccLayerNorm', 'norms'],
      ['PhccGrnGrad', 'norms'],
      ['Mul', 'other'],
    ] as const) {
      const call = k(name, [[2, 3, 4], [4]], [[2, 3, 4]]);
      expect(kernelClass(call)).toBe(cls);
      expect(kernelFlops(call)).toBe(0);
      expect(kernelElements(call)).toEqual({ written: 24, read: 28 });
    }
  });

  it('sums a step by class: calls, time, FLOPs and elements', () => {
    const totals = classTotals([
      {
        ...k(
          'BatchMatMul',
          [
            [6, 4],
            [4, 3],
          ],
          [[6, 3]],
        ),
        ms: 2,
      },
      {
        ...k(
          'BatchMatMul',
          [
            [4, 6],
            [4, 3],
          ],
          [[6, 3]],
        ),
        ms: 3,
      },
      { ...k('PhccGelu', [[6, 3]], [[6, 3]]), ms: 0.5 },
    ]);
    expect(totals.gemm).toEqual({ calls: 2, ms: 5, flops: 2 * 144, written: 36, read: 72 });
    expect(totals.gelu).toEqual({ calls: 1, ms: 0.5, flops: 0, written: 18, read: 18 });
    expect(totals.conv.calls).toBe(0);
  });

  it("reads tfjs's recorded input order right: a profiled training step counts forward + 2 gradients", async () => {
    // If the accounting took the wrong input of a gradient kernel, these totals would not be 3×.
    const x = tf.randomNormal([1, 8, 8, 3]);
    const f = tf.randomNormal([2, 2, 3, 5]);
    const dw = tf.randomNormal([5, 5, 5, 1]);
    const w = tf.randomNormal([5, 7]);
    const loss = (xi: tf.Tensor, fi: tf.Tensor, dwi: tf.Tensor, wi: tf.Tensor) => {
      const y = tf.conv2d(xi as tf.Tensor4D, fi as tf.Tensor4D, 2, 'valid'); // [1, 4, 4, 5]
      const d = tf.depthwiseConv2d(y, dwi as tf.Tensor4D, 1, 'same'); // [1, 4, 4, 5]
      return tf.sum(tf.matMul(tf.reshape(d, [16, 5]), wi)); // [16, 5] · [5, 7]
    };
    const grads = tf.grads(loss);
    const info = await tf.profile(() => grads([x, f, dw, w]));
    const totals = classTotals(
      info.kernels
        .filter((r) => tf.getKernel(r.name, 'cpu'))
        .map((r) => ({ name: r.name, inputShapes: r.inputShapes, outputShapes: r.outputShapes, ms: 0 })),
    );
    expect(totals.conv).toMatchObject({ calls: 3, flops: 3 * 2 * 16 * (2 * 2 * 3 * 5) });
    expect(totals.depthwise).toMatchObject({ calls: 3, flops: 3 * 2 * 16 * 5 * 25 });
    expect(totals.gemm).toMatchObject({ calls: 3, flops: 3 * 2 * 16 * 7 * 5 });
    tf.dispose([x, f, dw, w, ...(info.result as tf.Tensor[])]);
  });
});
