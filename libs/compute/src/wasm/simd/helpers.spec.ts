import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../select';
import { loadSimdHelpers, simdHelpers, simdHelperSwitch } from './helpers';

describe('SIMD helper loading', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('refuses, with the reason, a backend whose wasm heap it cannot reach', async () => {
    const result = await loadSimdHelpers({ getMemoryOffset: () => 0 });
    expect(result).toEqual({ loaded: false, detail: expect.stringMatching(/heap is not reachable/) });
    expect(simdHelpers({})).toBeUndefined();
  });

  it('is idempotent on the real backend and honours the switches', async () => {
    const wasm = tf.engine().findBackend('wasm');
    expect((await loadSimdHelpers(wasm)).loaded).toBe(true);
    expect((await loadSimdHelpers(wasm)).detail).toMatch(/^wasm SIMD/);
    const saved = { ...simdHelperSwitch };
    try {
      simdHelperSwitch.fma = false;
      expect(simdHelpers(wasm)?.fma).toBe(false);
      simdHelperSwitch.enabled = false;
      expect(simdHelpers(wasm)).toBeUndefined();
    } finally {
      Object.assign(simdHelperSwitch, saved);
    }
  });
});
