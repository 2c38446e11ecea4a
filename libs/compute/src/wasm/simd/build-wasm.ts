import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assembleSimdModule, SIMD_VARIANTS, SIMD_WASM_PREFIX, simdWasmDir, simdWasmFileName } from './module';

export interface SimdBuildResult {
  dir: string;
  /** Files assembled now (absent or stale before). */
  written: string[];
  /** Files already current (same text hash), left as they were. */
  current: string[];
  /** Superseded variants removed (their text hash no longer matches). */
  removed: string[];
}

/**
 * Assembles both SIMD variants into `dir` (dist/wasm/ by default) unless a file for the current
 * text is already there, and removes superseded ones. Run by `npm run build` (the script below)
 * and by the jest global setup, so tests from a fresh clone load what production loads.
 */
export async function buildSimdWasm(dir = simdWasmDir()): Promise<SimdBuildResult> {
  mkdirSync(dir, { recursive: true });
  const result: SimdBuildResult = { dir, written: [], current: [], removed: [] };
  const wanted = new Set<string>();
  for (const variant of SIMD_VARIANTS) {
    const name = simdWasmFileName(variant);
    wanted.add(name);
    const path = join(dir, name);
    if (existsSync(path)) {
      result.current.push(name);
      continue;
    }
    // Write then rename, so a process starting meanwhile never reads half a file.
    const partial = `${path}.${process.pid}.tmp`;
    writeFileSync(partial, await assembleSimdModule(variant));
    renameSync(partial, path);
    result.written.push(name);
  }
  for (const name of readdirSync(dir)) {
    if (name.startsWith(SIMD_WASM_PREFIX) && name.endsWith('.wasm') && !wanted.has(name)) {
      rmSync(join(dir, name), { force: true });
      result.removed.push(name);
    }
  }
  return result;
}

// `node dist/libs/compute/src/wasm/simd/build-wasm.js` (the build step in package.json).
if (require.main === module) {
  buildSimdWasm().then(
    ({ dir, written, current, removed }) => {
      const parts = [
        written.length ? `assembled ${written.join(', ')}` : '',
        current.length ? `current ${current.join(', ')}` : '',
        removed.length ? `removed ${removed.join(', ')}` : '',
      ].filter(Boolean);
      process.stdout.write(`SIMD helpers in ${dir}: ${parts.join('; ')}\n`);
    },
    (err: unknown) => {
      process.stderr.write(`build-wasm: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
