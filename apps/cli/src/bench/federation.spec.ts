import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLog } from '../../../../libs/common/src';
import { federationFigures, measureFederation } from './federation';

/** `bench federation`'s machinery at a tiny size: the production engine, a few synthetic sites. */
describe('bench federation', () => {
  let workRoot: string;
  beforeEach(() => {
    workRoot = mkdtempSync(join(tmpdir(), 'bench-federation-spec-'));
  });
  afterEach(() => rmSync(workRoot, { recursive: true, force: true }));

  it('runs every round at each size and reports the figures, ratios against the first size', async () => {
    const lines: string[] = [];
    const figures = await federationFigures(
      { sizes: [3, 10], params: 10_000, rounds: 2, encoding: 'float16', channels: 8 },
      { print: (line) => lines.push(line), log: silentLog },
      workRoot,
    );
    // The --json line is these figures: they must survive JSON as they are.
    expect(JSON.parse(JSON.stringify(figures))).toEqual(figures);
    expect(figures).toMatchObject({
      federation_params: 10_000,
      federation_rounds: 2,
      federation_encoding: 'float16',
      federation_sizes: [3, 10],
      federation_sites_3_rounds_done: 2,
      federation_sites_10_rounds_done: 2,
      federation_sites_3_per_site_vs_base: 1,
      federation_sites_3_rss_vs_base: 1,
    });
    for (const sites of [3, 10]) {
      const key = `federation_sites_${sites}`;
      expect(figures[`${key}_rounds_ms`]).toHaveLength(2);
      for (const name of [
        'round_ms',
        'per_site_ms',
        'engine_step_us',
        'engine_step_mean_us',
        'rss_peak_mb',
        'per_site_vs_base',
      ]) {
        expect(figures[`${key}_${name}`]).toBeGreaterThan(0);
      }
      for (const name of ['fold_share', 'engine_share']) {
        expect(figures[`${key}_${name}`]).toBeGreaterThan(0);
        expect(figures[`${key}_${name}`]).toBeLessThanOrEqual(1);
      }
    }
    // Each round: per site a delivery, an ack and an update, then the aggregation's answer.
    expect(figures.federation_sites_10_engine_steps).toBeGreaterThanOrEqual(2 * (3 * 10 + 1));
    expect(lines.filter((l) => /^ +\d+ sites: round /.test(l))).toHaveLength(2);
    // Its coordinator folders are gone.
    expect(readdirSync(workRoot)).toEqual([]);
  }, 60_000);

  it('folds the same model from the same sites: the run is deterministic', async () => {
    const scenario = { sites: 4, params: 5_000, rounds: 2, encoding: 'float32' as const, channels: 8 };
    const a = await measureFederation(scenario, silentLog, workRoot);
    const b = await measureFederation(scenario, silentLog, workRoot);
    expect(a.state).toBe('completed');
    expect(a.finalDigest).toMatch(/^[0-9a-f]{128}$/);
    expect(b.finalDigest).toBe(a.finalDigest);
  }, 60_000);
});
