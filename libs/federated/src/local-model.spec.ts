import { tensor } from './__tests__/harness';
import { localModelFrom } from './local-model';

describe('localModelFrom', () => {
  const global = [
    tensor('decoder/w', [5, 6]),
    tensor('encoder/w', [1, 2, 3, 4], [2, 2]),
    tensor('head/b', [0.5]),
  ];

  it('adds a delta to the global it was trained from, leaving tensors it does not carry as they were', () => {
    const local = localModelFrom(
      global,
      [tensor('encoder/w', [0.1, -0.2, 0, 1], [2, 2]), tensor('head/b', [0.25])],
      'delta',
    );
    expect(local.map((t) => t.name)).toEqual(['decoder/w', 'encoder/w', 'head/b']);
    expect([...local[0].values]).toEqual([5, 6]);
    expect([...local[1].values]).toEqual([...Float32Array.from([1.1, 1.8, 3, 5])]);
    expect(local[1].shape).toEqual([2, 2]);
    expect([...local[2].values]).toEqual([0.75]);
    expect([...global[1].values]).toEqual([1, 2, 3, 4]); // the input is not modified
  });

  it('takes sent weights as they are', () => {
    const local = localModelFrom(global, [tensor('head/b', [-3])], 'weights');
    expect([...local[2].values]).toEqual([-3]);
    expect([...local[1].values]).toEqual([1, 2, 3, 4]);
  });

  it('refuses an update that does not fit the global', () => {
    expect(() => localModelFrom(global, [tensor('head/other', [1])], 'delta')).toThrow(/does not have/);
    expect(() => localModelFrom(global, [tensor('head/b', [1, 2])], 'delta')).toThrow(/shape \[2\]/);
  });
});
