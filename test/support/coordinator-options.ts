import { join } from 'node:path';
import { silentLog } from '../../libs/common/src';
import type { CoordinatorOptions } from '../../apps/coordinator/src';

/**
 * Options for an in-process coordinator on a free 127.0.0.1 port, its database and blobs under
 * `dir/sub`, its kit in `dir/kits`.
 */
export function testCoordinatorOptions(
  dir: string,
  sub: string,
  adminToken: string | undefined,
  extra: Partial<CoordinatorOptions> = {},
): CoordinatorOptions {
  return {
    dbFile: join(dir, sub, 'state.sqlite'),
    kitDir: join(dir, 'kits'),
    dataDir: join(dir, sub, 'data'),
    host: '127.0.0.1',
    port: 0,
    adminToken,
    log: silentLog,
    ...extra,
  };
}
