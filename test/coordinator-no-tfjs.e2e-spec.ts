import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../libs/common/src';

/**
 * The coordinator needs no compute engine: its code and every library it imports never load
 * TensorFlow.js (README, docs/ARCHITECTURE.md). The lint rule in eslint.config.mjs checks each
 * file's own import lines; this checks what Node really loads, transitively, from the built
 * coordinator (dist/, which the e2e setup builds): the Nest application module and
 * `startCoordinator`, in a fresh process whose module cache is then read.
 */
jest.setTimeout(60_000);

const run = promisify(execFile);

describe('the coordinator loads no TensorFlow.js', () => {
  it('requiring the built coordinator (create-app, app.module) loads no @tensorflow module', async () => {
    const dist = join(packageRoot(), 'dist', 'apps', 'coordinator', 'src');
    const script = [
      `require(${JSON.stringify(join(dist, 'create-app.js'))});`,
      `require(${JSON.stringify(join(dist, 'app.module.js'))});`,
      'const loaded = Object.keys(require.cache);',
      "const tf = loaded.filter((k) => k.includes('@tensorflow'));",
      "const coordinator = loaded.filter((k) => k.includes('/apps/coordinator/'));",
      'process.stdout.write(JSON.stringify({ tf, coordinator: coordinator.length }));',
    ].join('\n');
    const { stdout } = await run(process.execPath, ['-e', script], { cwd: packageRoot(), timeout: 50_000 });
    const { tf, coordinator } = JSON.parse(stdout) as { tf: string[]; coordinator: number };
    // The coordinator's modules really were loaded (a wrong path would make this pass vacuously).
    expect(coordinator).toBeGreaterThan(20);
    expect(tf).toEqual([]);
  });
});
