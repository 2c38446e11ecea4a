import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from './support/in-process-cli';

interface CompareLine {
  arms: {
    arm: string;
    ssl: boolean;
    sites: {
      site: string;
      auc: number | null;
      ci95: [number, number] | null;
      n: number;
      at_threshold: {
        source: 'validation' | 'transferred';
        threshold: number | null;
        sensitivity: number | null;
        specificity: number | null;
      } | null;
    }[];
    pooled_auc: number | null;
    pooled_ci95: [number, number] | null;
  }[];
  comparisons: {
    question: string;
    a: string;
    b: string;
    diff: number | null;
    ci95: [number, number] | null;
    p: number | null;
    source?: 'paired-round';
  }[];
  seeds: number[];
  wall_s: number;
}

/**
 * `phcc-fed compare --quick` end to end at its smallest: 2 synthetic sites, 1 SSL and 2 fine-tune
 * epochs, every arm with and without SSL (central, federated through the round engine in process,
 * local-only), then the same command again: the figures must be identical.
 */
jest.setTimeout(180_000);

describe('phcc-fed compare --quick (2 sites)', () => {
  let out: string;
  beforeAll(() => {
    out = mkdtempSync(join(tmpdir(), 'phcc-compare-e2e-'));
  });
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  const args = (dir: string) => [
    'compare',
    '--quick',
    '--sites',
    '2',
    '--patients',
    '24',
    '--ssl-epochs',
    '1',
    '--finetune-epochs',
    '2',
    '--seed',
    '5',
    '--out',
    dir,
    '--json',
  ];

  it('reports every arm and comparison in range, writes the reports, and reruns identically', async () => {
    const first = await cli(...args(join(out, 'a')));
    expect(first.code).toBe(0);
    const line = JSON.parse(first.stdout.trim().split('\n').at(-1)!) as CompareLine;
    expect(line.seeds).toEqual([5]);
    expect(line.wall_s).toBeGreaterThan(0);
    expect(line.arms.map((a) => `${a.arm}${a.ssl ? '+ssl' : ''}`)).toEqual([
      'central+ssl',
      'federated-fedavg+ssl',
      'local-site-a+ssl',
      'local-site-b+ssl',
      'central',
      'federated-fedavg',
      'local-site-a',
      'local-site-b',
    ]);
    for (const arm of line.arms) {
      expect(arm.sites.map((s) => s.site)).toEqual(['site-a', 'site-b']);
      for (const s of arm.sites) {
        expect(s.n).toBeGreaterThan(0);
        if (s.auc !== null) {
          expect(s.auc).toBeGreaterThanOrEqual(0);
          expect(s.auc).toBeLessThanOrEqual(1);
          expect(s.ci95![0]).toBeLessThanOrEqual(s.auc);
          expect(s.ci95![1]).toBeGreaterThanOrEqual(s.auc);
        }
      }
      expect(arm.pooled_auc).toBeGreaterThanOrEqual(0);
      expect(arm.pooled_auc).toBeLessThanOrEqual(1);
      expect(arm.pooled_ci95![0]).toBeLessThanOrEqual(arm.pooled_auc!);
      expect(arm.pooled_ci95![1]).toBeGreaterThanOrEqual(arm.pooled_auc!);
    }
    // The synthetic sites have a validation split: each arm's cut-off is fixed there (a local-only
    // arm's travels to the other site), and the test patients are classified at it.
    const cut = (arm: string, site: string) =>
      line.arms.find((a) => `${a.arm}${a.ssl ? '+ssl' : ''}` === arm)!.sites.find((s) => s.site === site)!
        .at_threshold!;
    expect(cut('central', 'site-a').source).toBe('validation');
    expect(cut('federated-fedavg+ssl', 'site-b').source).toBe('validation');
    expect(cut('local-site-a', 'site-a').source).toBe('validation');
    expect(cut('local-site-a', 'site-b').source).toBe('transferred');
    const rates = line.arms.flatMap((a) => a.sites.map((s) => s.at_threshold!));
    expect(rates.some((r) => r.sensitivity !== null)).toBe(true);
    for (const r of rates.filter((x) => x.sensitivity !== null)) {
      expect(r.sensitivity).toBeGreaterThanOrEqual(0);
      expect(r.specificity).toBeLessThanOrEqual(1);
    }
    expect(new Set(line.comparisons.map((c) => c.question))).toEqual(
      new Set(['federated − central', 'federated − best local', 'SSL − no-SSL']),
    );
    for (const c of line.comparisons) {
      if (c.diff === null) continue;
      expect(Math.abs(c.diff)).toBeLessThanOrEqual(1);
      expect(c.ci95![0]).toBeLessThanOrEqual(c.diff);
      expect(c.ci95![1]).toBeGreaterThanOrEqual(c.diff);
      expect(c.p).toBeGreaterThanOrEqual(0);
      expect(c.p).toBeLessThanOrEqual(1);
    }
    expect(line.comparisons.some((c) => c.diff !== null)).toBe(true);
    // federated − central comes from the federated run's paired evaluation round (the sites'
    // aggregates, as a real federation computes them); the other rows from compare's scoring.
    expect(line.comparisons.filter((c) => c.source === 'paired-round').map((c) => `${c.a} − ${c.b}`)).toEqual(
      ['federated-fedavg+ssl − central+ssl', 'federated-fedavg − central'],
    );
    expect(
      line.comparisons.filter((c) => c.question === 'federated − central').every((c) => c.diff !== null),
    ).toBe(true);

    const runDir = join(
      out,
      'a',
      readdirSync(join(out, 'a')).find((d) => d.startsWith('compare-2'))!,
    );
    const report = JSON.parse(readFileSync(join(runDir, 'report.json'), 'utf8')) as Record<string, unknown>;
    expect(Object.keys(report)).toEqual(
      expect.arrayContaining([
        'configuration',
        'seeds',
        'versions',
        'wall_s',
        'arms',
        'comparisons',
        'per_seed',
      ]),
    );
    expect(readFileSync(join(runDir, 'report.md'), 'utf8')).toContain('## Paired differences');
    expect(readFileSync(join(runDir, 'report.md'), 'utf8')).toContain('## At a fixed cut-off');
    const html = readFileSync(join(runDir, 'report.html'), 'utf8');
    expect(html).toContain('<svg');
    expect(html).not.toMatch(/<script|src=|https?:\/\/(?!www\.w3\.org)/);

    const again = await cli(...args(join(out, 'b')));
    expect(again.code).toBe(0);
    const rerun = JSON.parse(again.stdout.trim().split('\n').at(-1)!) as CompareLine;
    expect({ ...rerun, wall_s: 0 }).toEqual({ ...line, wall_s: 0 });
  });
});
