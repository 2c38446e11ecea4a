import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { decodeWeights, encodeWeights } from '../../../weights/src';
import { namedArraysToTensors, tensorsToNamedArrays, tensorsToNamedArraysAsync } from './tf-bridge';

beforeAll(async () => {
  tf.env().set('IS_TEST', true); // silences the "install tfjs-node" banner
  await tf.setBackend('cpu');
});

describe('tfjs bridge', () => {
  it('round-trips a tensor map through the codec, copying values both ways', async () => {
    const kernel = tf.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const bias = tf.tensor([0.5, -0.5], [2]);
    const arrays = tensorsToNamedArrays({ 'dense/kernel': kernel, 'dense/bias': bias });
    expect(arrays.map((a) => [a.name, a.shape])).toEqual([
      ['dense/kernel', [2, 3]],
      ['dense/bias', [2]],
    ]);
    arrays[0].values[0] = 100;
    expect(kernel.dataSync()[0]).toBe(1); // not shared with the tensor

    const tensors = namedArraysToTensors(decodeWeights(encodeWeights(arrays)));
    expect(Object.keys(tensors).sort()).toEqual(['dense/bias', 'dense/kernel']);
    expect(tensors['dense/kernel'].shape).toEqual([2, 3]);
    expect(tensors['dense/kernel'].dtype).toBe('float32');
    expect(Array.from(await tensors['dense/kernel'].data())).toEqual([100, 2, 3, 4, 5, 6]);

    const viaAsync = await tensorsToNamedArraysAsync(tensors);
    expect(viaAsync.map((a) => a.name).sort()).toEqual(['dense/bias', 'dense/kernel']);
    tf.dispose([kernel, bias, ...Object.values(tensors)]);
  });

  it('takes variables by their names and widens int32 tensors', () => {
    const variable = tf.variable(tf.tensor([1, 2], [2]), true, 'bridge-test/v');
    const counts = tf.tensor([3, 4], [2], 'int32');
    const [fromVariable] = tensorsToNamedArrays([variable]);
    expect(fromVariable.name).toBe('bridge-test/v');
    const [fromInt] = tensorsToNamedArrays({ counts });
    expect(fromInt.values).toBeInstanceOf(Float32Array);
    expect(Array.from(fromInt.values)).toEqual([3, 4]);
    tf.dispose([variable, counts]);
  });

  it('does not let later arithmetic on the arrays change the tensors', () => {
    const arrays = [{ name: 'x', shape: [2], values: Float32Array.of(1, 2) }];
    const tensors = namedArraysToTensors(arrays);
    arrays[0].values[0] = 7;
    expect(Array.from(tensors.x.dataSync())).toEqual([1, 2]);
    tf.dispose(Object.values(tensors));
  });

  it('refuses duplicate names and string tensors', () => {
    const x = { name: 'x', shape: [1], values: Float32Array.of(1) };
    expect(() => namedArraysToTensors([x, x])).toThrow(/"x" given twice/);
    const words = tf.tensor(['a'], [1], 'string');
    expect(() => tensorsToNamedArrays({ words })).toThrow(/dtype string/);
    words.dispose();
  });
});
