import { join } from 'node:path';

/**
 * Where provisioning puts things (DIR = the `--out` directory):
 *   DIR/coordinator/{coordinator.key, coordinator.pub, coordinator.json, sites.json}
 *   DIR/sites/<id>/{site.key, site.pub, coordinator.pub, kit.json}
 *   DIR/retired/<id>-<time>/   kits replaced with --force (kept: never lose a key)
 */
export const COORDINATOR_DIR = 'coordinator';
export const SITES_DIR = 'sites';
export const RETIRED_DIR = 'retired';

export const coordinatorFiles = (coordinatorDir: string) => ({
  secretKey: join(coordinatorDir, 'coordinator.key'),
  publicKey: join(coordinatorDir, 'coordinator.pub'),
  identity: join(coordinatorDir, 'coordinator.json'),
  registry: join(coordinatorDir, 'sites.json'),
});

export const siteKitFiles = (kitDir: string) => ({
  secretKey: join(kitDir, 'site.key'),
  publicKey: join(kitDir, 'site.pub'),
  coordinatorPublicKey: join(kitDir, 'coordinator.pub'),
  kit: join(kitDir, 'kit.json'),
});
