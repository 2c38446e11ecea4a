import * as tf from '@tensorflow/tfjs-core';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../../select';
import { loadSimdHelpers, simdHelpers, simdHelperSwitch, simdModuleBytes } from './helpers';
import { simdWasmDir, simdWasmFileName } from './module';

describe('SIMD helper loading', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it('refuses, with the reason, a backend whose wasm heap it cannot reach', async () => {
    const result = await loadSimdHelpers({ getMemoryOffset: () => 0 });
    expect(result).toEqual({
      loaded: false,
      detail: expect.stringMatching(/heap is not reachable/),
      threads: 1,
    });
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

  it("loads the build's binaries, not the text (the jest global setup builds dist/wasm)", async () => {
    for (const variant of ['plain', 'fma'] as const)
      expect(existsSync(join(simdWasmDir(), simdWasmFileName(variant)))).toBe(true);
    const { detail } = await loadSimdHelpers(tf.engine().findBackend('wasm'));
    expect(detail).toBe('wasm SIMD, FMA (relaxed SIMD)');
  });
});

describe('SIMD module bytes: the build, or text when it is missing or stale', () => {
  let dir: string;
  let warn: jest.SpyInstance;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'phcc-simd-'));
    warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
  });
  afterEach(() => {
    warn.mockRestore();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads the built files as they are', async () => {
    const bytes = await simdModuleBytes(simdWasmDir(), true);
    expect(bytes.assembled).toBeUndefined();
    expect(Buffer.from(bytes.fma)).toEqual(readFileSync(join(simdWasmDir(), simdWasmFileName('fma'))));
    expect(warn).not.toHaveBeenCalled();
  });

  it('assembles what the build would have written, with one warning in all, when the files are missing or stale', async () => {
    const missing = await simdModuleBytes(dir, true);
    expect(missing.assembled).toMatch(/phcc-simd-plain-[0-9a-f]{16}\.wasm is missing$/);
    for (const variant of ['plain', 'fma'] as const)
      expect(Buffer.from(missing[variant])).toEqual(
        readFileSync(join(simdWasmDir(), simdWasmFileName(variant))),
      );
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0][0])).toMatch(/not built for this source.*npm run build/);

    // A build from other text: its name carries another hash, so the current one is absent.
    writeFileSync(join(dir, 'phcc-simd-plain-0000000000000000.wasm'), missing.plain);
    expect((await simdModuleBytes(dir, true)).assembled).toMatch(/is stale$/);
    expect(warn).toHaveBeenCalledTimes(1);
  });

  it('assembles from text, without a warning, when PHCC_WASM_PREBUILT=0', async () => {
    const bytes = await simdModuleBytes(simdWasmDir(), false);
    expect(bytes.assembled).toBe('PHCC_WASM_PREBUILT=0');
    expect(warn).not.toHaveBeenCalled();
  });
});
