import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../../common/src';
import { gelu } from '../ops/gelu';
import { grn } from '../ops/grn';
import { layerNorm } from '../ops/layer-norm';
import { initBackend } from '../select';
import { sharedSavesInstalled, sharedSavesSwitch } from './shared-saves';

/**
 * The engine's clone of saved tensors without an Identity dispatch (shared-saves.ts): the same
 * gradients, bit for bit, as tfjs's dispatching clone, first and second order; no tensor or
 * buffer left behind; and the Identity dispatches really gone (so the equality is not vacuous:
 * with the switch off the same graph dispatches them).
 */

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

afterEach(() => {
  sharedSavesSwitch.enabled = true;
});

function randomTensor(rng: Rng, shape: number[]): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Float32Array.from({ length: size }, () => rng.normal()),
    shape,
  );
}

/** A block of the model's mix: matmul, bias, GELU, GRN, LayerNorm, mask multiply, residual. */
function block(
  x: tf.Tensor,
  w: tf.Tensor,
  b: tf.Tensor,
  keep: tf.Tensor,
  g: tf.Tensor,
  beta: tf.Tensor,
): tf.Scalar {
  const h = tf.reshape(tf.add(tf.matMul(tf.reshape(x, [-1, 8]), w), b), [2, 4, 4, 8]);
  const n = grn(gelu(h) as tf.Tensor4D, g, beta, 1e-6);
  const y = tf.mul(tf.add(layerNorm(n, g, beta, 1e-6), x), keep);
  return tf.sum(tf.square(y));
}

function gradsOf(enabled: boolean): Float32Array[] {
  sharedSavesSwitch.enabled = enabled;
  const rng = new Rng(5);
  return tf.tidy(() => {
    const x = randomTensor(rng, [2, 4, 4, 8]);
    const w = randomTensor(rng, [8, 8]);
    const b = randomTensor(rng, [8]);
    const g = randomTensor(rng, [8]);
    const beta = randomTensor(rng, [8]);
    const keep = tf.tensor4d(
      Array.from({ length: 32 }, (_, i) => (i % 3 ? 1 : 0)),
      [2, 4, 4, 1],
    );
    const grads = tf.grads((xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor, gg: tf.Tensor) =>
      block(xx, ww, bb, keep, gg, beta),
    )([x, w, b, g]);
    return grads.map((t) => t.dataSync() as Float32Array);
  });
}

async function identityDispatches(enabled: boolean): Promise<number> {
  sharedSavesSwitch.enabled = enabled;
  const rng = new Rng(6);
  const info = await tf.profile(() => {
    tf.tidy(() => {
      const x = randomTensor(rng, [2, 4, 4, 8]);
      const w = randomTensor(rng, [8, 8]);
      const b = randomTensor(rng, [8]);
      const keep = tf.ones([2, 4, 4, 1]);
      tf.grads((xx: tf.Tensor, ww: tf.Tensor) => block(xx, ww, b, keep, b, b))([x, w]);
    });
  });
  return info.kernels.filter((k) => k.name === 'Identity').length;
}

describe('shared saved tensors (wasm)', () => {
  it('is installed by initBackend on wasm', () => {
    expect(tf.getBackend()).toBe('wasm');
    expect(sharedSavesInstalled()).toBe(true);
  });

  it('gives the same gradients, bit for bit, as tfjs clone, with no Identity dispatch', async () => {
    const shared = gradsOf(true);
    const cloned = gradsOf(false);
    expect(shared).toHaveLength(4);
    shared.forEach((grad, i) => {
      expect(grad.some((v) => v !== 0)).toBe(true);
      expect(Array.from(grad)).toEqual(Array.from(cloned[i]));
    });
    expect(await identityDispatches(false)).toBeGreaterThan(10);
    expect(await identityDispatches(true)).toBe(0);
  });

  it('keeps second-order gradients through saved tensors', () => {
    const second = (enabled: boolean) => {
      sharedSavesSwitch.enabled = enabled;
      return tf.tidy(() => {
        const x = tf.tensor1d([0.5, -1.5, 2]);
        // d²/dx² of x³ · sin(x): Mul and Sin save inputs whose clones the first gradient uses.
        const d2 = tf.grad(tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.mul(tf.mul(v, v), v), tf.sin(v)))));
        return Array.from(d2(x).dataSync());
      });
    };
    const shared = second(true);
    expect(shared).toEqual(second(false));
    // Analytic: f = x³ sin x, f'' = 6x sin x + 6x² cos x − x³ sin x.
    [0.5, -1.5, 2].forEach((x, i) => {
      const expected = 6 * x * Math.sin(x) + 6 * x * x * Math.cos(x) - x ** 3 * Math.sin(x);
      expect(shared[i]).toBeCloseTo(expected, 3);
    });
  });

  it('leaves no tensor or buffer behind after a step', () => {
    gradsOf(true);
    const before = tf.memory();
    gradsOf(true);
    const after = tf.memory();
    expect(after.numTensors).toBe(before.numTensors);
    expect(after.numDataBuffers).toBe(before.numDataBuffers);
    expect(after.numBytes).toBe(before.numBytes);
  });
});
