import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { packageRoot } from '../../../../libs/common/src';

/** Where `npm run build` writes the dashboard (apps/dashboard/build.mjs). */
export function dashboardDir(): string {
  return join(packageRoot(), 'dist', 'ui');
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.map': 'application/json',
};

export interface DashboardAsset {
  body: Buffer;
  contentType: string;
}

/**
 * The built dashboard, read into memory once (a few hundred KB): only the files found here can
 * ever be served, so no request path reaches the file system. Empty when the build has not run.
 */
export function loadDashboardAssets(dir = dashboardDir()): Map<string, DashboardAsset> {
  const assets = new Map<string, DashboardAsset>();
  if (!existsSync(dir)) return assets;
  for (const name of readdirSync(dir)) {
    const contentType = CONTENT_TYPES[extname(name)];
    if (contentType) assets.set(name, { body: readFileSync(join(dir, name)), contentType });
  }
  return assets;
}
