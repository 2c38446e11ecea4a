import { buildSimdWasm } from '../../libs/compute/src/wasm/simd/build-wasm';

/**
 * Jest global setup (both projects): dist/wasm/ holds the SIMD helper binaries `npm run build`
 * assembles; when they are missing or built from other WebAssembly text they are assembled here,
 * so the suites load what production loads (and never the slower text fallback) in a fresh clone
 * or after a change to the text generators.
 */
export default async function buildWasm(): Promise<void> {
  const { dir, written } = await buildSimdWasm();
  if (written.length) process.stderr.write(`\njest: assembled ${written.join(', ')} into ${dir}\n`);
}
