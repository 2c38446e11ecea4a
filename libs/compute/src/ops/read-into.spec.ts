import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../select';
import { readInto } from './read-into';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

afterEach(async () => {
  await tf.setBackend('wasm');
});

describe('readInto: a tensor copied into a caller-owned array', () => {
  it.each(['wasm', 'cpu'])('on %s: the values land at the offset, the rest untouched', async (backend) => {
    await tf.setBackend(backend);
    const t = tf.tensor2d([1.5, -2, 3, 4.25, 0, -0.5], [2, 3]);
    const target = new Float32Array(10).fill(9);
    readInto(t, target, 3);
    expect(Array.from(target)).toEqual([9, 9, 9, 1.5, -2, 3, 4.25, 0, -0.5, 9]);
    t.dispose();
  });

  it('refuses a tensor that does not fit, and one that is not float32', () => {
    const t = tf.ones([4]);
    expect(() => readInto(t, new Float32Array(5), 2)).toThrow(/4 values do not fit at 2 of 5/);
    const ints = tf.ones([2], 'int32');
    expect(() => readInto(ints, new Float32Array(5))).toThrow(/int32/);
    tf.dispose([t, ints]);
  });
});
