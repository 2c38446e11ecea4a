import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSimdWasm } from './build-wasm';
import { SIMD_VARIANTS, simdModuleText, simdWasmFileName } from './module';

const validate = (bytes: Uint8Array) =>
  (globalThis as unknown as { WebAssembly: { validate(b: Uint8Array): boolean } }).WebAssembly.validate(
    bytes,
  );

describe('buildSimdWasm (the build step)', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'phcc-simd-build-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('names each variant by the hash of its text', () => {
    for (const variant of SIMD_VARIANTS) {
      const hash = createHash('sha256').update(simdModuleText(variant)).digest('hex').slice(0, 16);
      expect(simdWasmFileName(variant)).toBe(`phcc-simd-${variant}-${hash}.wasm`);
    }
    expect(simdModuleText('fma')).toContain('f32x4.relaxed_madd');
    expect(simdModuleText('plain')).not.toContain('relaxed');
  });

  it('writes both variants once, leaves current ones alone and removes superseded ones', async () => {
    const superseded = join(dir, 'phcc-simd-fma-0123456789abcdef.wasm');
    writeFileSync(superseded, 'old');
    writeFileSync(join(dir, 'unrelated.wasm'), 'kept');
    const first = await buildSimdWasm(dir);
    const names = SIMD_VARIANTS.map(simdWasmFileName);
    expect(first).toEqual({
      dir,
      written: names,
      current: [],
      removed: ['phcc-simd-fma-0123456789abcdef.wasm'],
    });
    expect(readdirSync(dir).sort()).toEqual([...names, 'unrelated.wasm'].sort());
    // The plain variant is baseline SIMD, valid on every engine with wasm SIMD.
    expect(validate(readFileSync(join(dir, simdWasmFileName('plain'))))).toBe(true);
    expect(existsSync(superseded)).toBe(false);

    const second = await buildSimdWasm(dir);
    expect(second).toEqual({ dir, written: [], current: names, removed: [] });
  });
});
