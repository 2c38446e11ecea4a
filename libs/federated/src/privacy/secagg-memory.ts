import { SecAggConfig } from './secagg-messages';
import { SecAggServer } from './secagg-server';
import { SecAggSite } from './secagg-site';

/**
 * One secure-aggregation round with every party in this process: the same state machines the
 * coordinator and the agents run, connected by function calls. Serves tests and `bench privacy`.
 * `dropAfterShares` sites share their keys and then vanish (the case the protocol exists for).
 */
export interface InMemoryRoundOptions {
  config: SecAggConfig;
  inputs: ReadonlyMap<string, Float64Array>;
  dropAfterShares?: ReadonlySet<string>;
  /** Called after each step with the wall time it took (ms), by role, for benchmarks. */
  onStep?: (step: string, role: 'site' | 'server', ms: number) => void;
}

export function runSecAggInMemory(options: InMemoryRoundOptions): {
  sum: Float64Array;
  survivors: string[];
  dropped: string[];
  server: SecAggServer;
} {
  const { config, inputs } = options;
  const drop = options.dropAfterShares ?? new Set<string>();
  const timed = <T>(step: string, role: 'site' | 'server', run: () => T): T => {
    const t0 = performance.now();
    const out = run();
    options.onStep?.(step, role, performance.now() - t0);
    return out;
  };
  const server = new SecAggServer(config);
  const sites = [...inputs.keys()].map((id) => new SecAggSite(id, config));
  for (const site of sites) server.receiveKeys(timed('advertise', 'site', () => site.advertise()));
  const directory = timed('directory', 'server', () => server.closeKeys());
  for (const site of sites)
    server.receiveShares(timed('share-keys', 'site', () => site.shareKeys(directory)));
  const inboxes = timed('route-shares', 'server', () => server.closeShares());
  const alive = sites.filter((s) => !drop.has(s.siteId));
  for (const site of alive) {
    const masked = timed('mask-input', 'site', () =>
      site.maskInput(inboxes.get(site.siteId)!, inputs.get(site.siteId)!),
    );
    timed('collect-input', 'server', () => server.receiveMasked(masked));
  }
  const request = timed('unmask-request', 'server', () => server.closeMasked());
  for (const site of alive) server.receiveUnmask(timed('unmask', 'site', () => site.unmask(request)));
  const result = timed('finish', 'server', () => server.finish());
  return { ...result, server };
}
