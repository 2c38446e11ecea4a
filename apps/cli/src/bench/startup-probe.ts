import * as tf from '@tensorflow/tfjs-core';
import { fusedGelu, initBackend } from '../../../../libs/compute/src';

/** One fresh start, as `bench startup` measures it (milliseconds since the process started). */
export interface StartupProbe {
  /** Node, tfjs and libs/compute loaded (what every start pays, whichever helpers it loads). */
  importedMs: number;
  /** initBackend('wasm'): tfjs-wasm's own module, our kernels, the SIMD helpers. */
  initMs: number;
  /** Process start to the first SIMD kernel's result (a fused GELU). */
  firstKernelMs: number;
  /** initBackend's description of the helpers (says "assembled from text" when they were). */
  helpers: string;
}

/** Measures this process's start; `imported` is performance.now() when the modules had loaded. */
export async function probeStartup(imported: number): Promise<StartupProbe> {
  const t0 = performance.now();
  const info = await initBackend({ backend: 'wasm' });
  const t1 = performance.now();
  const x = tf.linspace(-3, 3, 4096);
  const y = fusedGelu(x);
  x.dispose();
  if (!y) throw new Error(`the SIMD helpers did not load (${info.helpers ?? 'no helpers'})`);
  y.dataSync();
  y.dispose();
  return {
    importedMs: imported,
    initMs: t1 - t0,
    firstKernelMs: performance.now(),
    helpers: info.helpers ?? 'none',
  };
}

// `bench startup` runs this file as a fresh process: one JSON line on stdout.
if (require.main === module) {
  const imported = performance.now();
  probeStartup(imported).then(
    (probe) => process.stdout.write(JSON.stringify(probe) + '\n'),
    (err: unknown) => {
      process.stderr.write(`startup probe: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
