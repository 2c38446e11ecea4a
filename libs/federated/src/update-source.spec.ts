import { encodeWeights } from '../../weights/src';
import { tensor, valuesOf } from './__tests__/harness';
import { decodeSelected, EncodedUpdateSource } from './update-source';

describe('EncodedUpdateSource', () => {
  const arrays = [tensor('encoder/a', [1, 2, 3]), tensor('encoder/ln/g', [4]), tensor('head/b', [5, 6])];

  it('decodes only the wanted tensors', async () => {
    const buffer = encodeWeights(arrays);
    const loads: string[] = [];
    const source = new EncodedUpdateSource([], (siteId) => {
      loads.push(siteId);
      return buffer;
    });
    const read = await source.read('s1', (name) => !name.includes('/ln'));
    expect(read.map((a) => a.name)).toEqual(['encoder/a', 'head/b']);
    expect(valuesOf(read, 'head/b')).toEqual([5, 6]);
    expect(loads).toEqual(['s1']);
  });

  it('returns float32 tensors as views of the buffer (no copy) and decodes other dtypes', () => {
    const buffer = encodeWeights(arrays);
    const [a] = decodeSelected(buffer, (name) => name === 'encoder/a');
    expect(a.values.buffer).toBe(buffer.buffer);
    const half = decodeSelected(encodeWeights(arrays, 'float16'), () => true);
    expect(valuesOf(half, 'encoder/a')).toEqual([1, 2, 3]);
  });
});
