import * as tf from '@tensorflow/tfjs-core';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { initBackend } from '../select';

describe('tfjs-core gradients in CommonJS', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('registers a gradient for every gradient file tfjs-core ships', () => {
    const dir = join(
      dirname(require.resolve('@tensorflow/tfjs-core/dist/register_all_gradients.js')),
      'gradients',
    );
    const files = readdirSync(dir).filter((f) => f.endsWith('_grad.js'));
    expect(files.length).toBeGreaterThan(100);
    // File names follow kernel names (Conv2D_grad.js → Conv2D), some with a lower-case first letter.
    const registered = new Set(
      files
        .map((f) => f.replace(/_grad\.js$/, ''))
        .filter(
          (name) =>
            tf.getGradient(name) !== undefined || tf.getGradient(name.replace(/^./, (c) => c.toUpperCase())),
        ),
    );
    expect(files.length - registered.size).toBe(0);
    for (const kernel of [
      'Conv2D',
      'DepthwiseConv2dNative',
      'BatchMatMul',
      'GatherV2',
      'Erf',
      'Softmax',
      'Mean',
    ]) {
      expect(tf.getGradient(kernel)).toBeDefined();
    }
  });

  it('computes gradients through the loaded functions', async () => {
    const x = tf.tensor1d([0.5, -1, 2]);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.erf(t), tf.square(t))))(x);
    const values = await g.data();
    // d/dt [erf(t)·t²] = (2/√π)e^(−t²)·t² + 2t·erf(t)
    const expected = [0.5, -1, 2].map(
      (t) => (2 / Math.sqrt(Math.PI)) * Math.exp(-t * t) * t * t + 2 * t * erfRef(t),
    );
    expected.forEach((e, i) => expect(values[i]).toBeCloseTo(e, 4));
    tf.dispose([x, g]);
  });
});

/** Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7), an independent reference for erf. */
function erfRef(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-x * x);
  return x >= 0 ? y : -y;
}
