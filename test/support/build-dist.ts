import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import buildWasm from './build-wasm';

/**
 * Jest global setup of the e2e project: the suites that start `phcc-fed` processes run dist/, so
 * dist/ must exist and be newer than every source file. A missing or stale build is rebuilt here
 * (`tsc -p tsconfig.build.json`, what `npm run build` does); a build that fails fails the run. No
 * e2e suite ever skips for want of dist/. The SIMD helpers' binaries (dist/wasm/) are checked
 * by their own, cheaper test: their names carry the hash of the text they were built from.
 */
export default async function buildDist(): Promise<void> {
  const root = join(__dirname, '..', '..');
  buildDashboard(root);
  await buildWasm();
  const entry = join(root, 'dist', 'apps', 'cli', 'src', 'main.js');
  const builtAt = existsSync(entry) ? statSync(entry).mtimeMs : 0;
  const newest = Math.max(newestSource(join(root, 'apps')), newestSource(join(root, 'libs')));
  if (builtAt >= newest) return;
  process.stderr.write(`\ne2e: dist/ is ${builtAt ? 'older than the sources' : 'missing'}; building it\n`);
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (!existsSync(entry)) throw new Error(`the build did not produce ${entry}`);
}

/** dist/ui (the dashboard's bundle, `node apps/dashboard/build.mjs`) when missing or older than its sources. */
function buildDashboard(root: string): void {
  const bundle = join(root, 'dist', 'ui', 'app.js');
  const builtAt = existsSync(bundle) ? statSync(bundle).mtimeMs : 0;
  if (builtAt >= newestSource(join(root, 'apps', 'dashboard'), /\.(tsx?|css|html|svg|mjs)$/)) return;
  process.stderr.write(`\ne2e: dist/ui is ${builtAt ? 'older than its sources' : 'missing'}; building it\n`);
  execFileSync(process.execPath, [join(root, 'apps', 'dashboard', 'build.mjs')], {
    cwd: root,
    stdio: 'inherit',
  });
  if (!existsSync(bundle)) throw new Error(`the dashboard build did not produce ${bundle}`);
}

function newestSource(dir: string, pattern = /\.ts$/): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path, pattern));
    else if (pattern.test(entry.name) && !entry.name.endsWith('.spec.ts'))
      newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}
