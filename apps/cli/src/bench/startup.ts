import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BenchFigures, BenchOptions, BenchSuite } from './suite';
import type { StartupProbe } from './startup-probe';

const run = promisify(execFile);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** How a start gets its SIMD helpers: the build's binaries, or wabt from text (what every start did before). */
const MODES = [
  { name: 'prebuilt', env: { PHCC_WASM_PREBUILT: '1' } },
  { name: 'text', env: { PHCC_WASM_PREBUILT: '0' } },
] as const;

async function probeOnce(script: string, env: NodeJS.ProcessEnv): Promise<StartupProbe & { wallMs: number }> {
  const t0 = performance.now();
  const { stdout } = await run(process.execPath, [script], {
    env: { ...process.env, PHCC_BACKEND: 'wasm', ...env },
    timeout: 60_000,
  });
  const wallMs = performance.now() - t0;
  return { ...(JSON.parse(stdout.trim().split('\n').pop()!) as StartupProbe), wallMs };
}

/**
 * Start-up of the wasm backend in fresh processes (one per start: a warm process would hide what
 * a site agent or worker pays), alternating the two modes so load on this shared machine falls on
 * both alike. Each probe reports the time from its own process start to the first SIMD kernel's
 * result.
 */
export const startupBench: BenchSuite = {
  async run({ print, quick }: BenchOptions): Promise<BenchFigures> {
    const script = join(__dirname, 'startup-probe.js');
    if (!existsSync(script)) {
      throw new Error(`${script} is missing: bench startup runs from the build (npm run build)`);
    }
    const runs = quick ? 3 : 10;
    const results = new Map<string, (StartupProbe & { wallMs: number })[]>(MODES.map((m) => [m.name, []]));
    for (let i = 0; i < runs; i++) {
      // Alternate which mode goes first, so neither always follows the other's page-cache warm-up.
      const order = i % 2 ? [...MODES].reverse() : MODES;
      for (const mode of order) {
        const probe = await probeOnce(script, mode.env);
        const assembled = probe.helpers.includes('assembled from text');
        if (assembled !== (mode.name === 'text')) {
          throw new Error(
            `bench startup: a ${mode.name} start loaded "${probe.helpers}"` +
              (mode.name === 'prebuilt' ? ' (dist/wasm is not built for these sources: npm run build)' : ''),
          );
        }
        results.get(mode.name)!.push(probe);
      }
    }
    const stat = (mode: string, key: 'firstKernelMs' | 'initMs' | 'wallMs' | 'importedMs') => {
      const xs = results.get(mode)!.map((p) => p[key]);
      return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
    };
    const fmt = (x: number) => x.toFixed(0);
    const line = (label: string, key: 'firstKernelMs' | 'initMs' | 'wallMs' | 'importedMs') => {
      const a = stat('prebuilt', key);
      const b = stat('text', key);
      print(
        `  ${label}: prebuilt ${fmt(a.median)} ms (${fmt(a.min)}–${fmt(a.max)}), ` +
          `from text ${fmt(b.median)} ms (${fmt(b.min)}–${fmt(b.max)}), ratio ${(a.median / b.median).toFixed(2)}`,
      );
      return { prebuilt: a.median, text: b.median };
    };
    print(`startup: ${runs} fresh node processes per mode, interleaved; medians (range)`);
    print(`  helpers: ${results.get('prebuilt')![0].helpers}`);
    const imported = line('modules loaded (node, tfjs, libs/compute)', 'importedMs');
    const init = line('initBackend wasm (tfjs-wasm, our kernels, SIMD helpers)', 'initMs');
    const first = line('process start to first SIMD kernel result', 'firstKernelMs');
    const wall = line('spawn to exit, seen by the parent', 'wallMs');
    return {
      startup_runs: runs,
      startup_imported_prebuilt_ms: imported.prebuilt,
      startup_imported_text_ms: imported.text,
      startup_init_prebuilt_ms: init.prebuilt,
      startup_init_text_ms: init.text,
      startup_first_kernel_prebuilt_ms: first.prebuilt,
      startup_first_kernel_text_ms: first.text,
      startup_first_kernel_ratio: first.prebuilt / first.text,
      startup_wall_prebuilt_ms: wall.prebuilt,
      startup_wall_text_ms: wall.text,
    };
  },
};
