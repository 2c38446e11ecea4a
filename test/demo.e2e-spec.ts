import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from './support/in-process-cli';
import { demoPlan } from '../apps/cli/src/demo/run-demo';

const lastJson = <T>(stdout: string): T => JSON.parse(stdout.trim().split('\n').at(-1)!) as T;

/**
 * `phcc-fed demo --quick` end to end with the smallest settings: 2 synthetic hospitals, the real
 * coordinator in-process, two `phcc-fed agent` child processes (they run dist/: `npm run build`
 * first — `npm ci` does), 1 SSL + 1 fine-tune round and the final evaluation.
 */
jest.setTimeout(120_000);

describe('phcc-fed demo --quick (2 sites)', () => {
  let out: string;
  beforeAll(() => {
    out = mkdtempSync(join(tmpdir(), 'phcc-demo-e2e-'));
  });
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  let demoDigest: string | undefined;

  it('runs a federation to completion and reports per-site and pooled AUC', async () => {
    const { stdout, code } = await cli(
      'demo',
      '--quick',
      '--sites',
      '2',
      '--patients',
      '24',
      '--ssl-rounds',
      '1',
      '--finetune-rounds',
      '1',
      '--seed',
      '7',
      '--out',
      out,
      '--timeout',
      '100',
      '--json',
    );
    expect(code).toBe(0);
    const last = stdout.trim().split('\n').at(-1)!;
    const report = JSON.parse(last) as {
      final_model_digest: string;
      state: string;
      pooled_auc: number;
      rounds: number;
      wall_s: number;
      sites: { site: string; auc: number; ci95: unknown; n: number; bytesSent: number }[];
    };
    expect(report.state).toBe('completed');
    expect(report.rounds).toBe(2);
    expect(report.pooled_auc).toBeGreaterThanOrEqual(0);
    expect(report.pooled_auc).toBeLessThanOrEqual(1);
    expect(report.wall_s).toBeGreaterThan(0);
    expect(report.sites.map((s) => s.site)).toEqual(['site-a', 'site-b']);
    for (const site of report.sites) {
      expect(site).toHaveProperty('ci95');
      expect(site.n).toBeGreaterThan(0);
      expect(site.auc).toBeGreaterThanOrEqual(0);
      expect(site.auc).toBeLessThanOrEqual(1);
      // Two signed updates with the tiny model's weights at least.
      expect(site.bytesSent).toBeGreaterThan(10_000);
    }
    const runDir = readdirSync(out).find((d) => d.startsWith('demo-'))!;
    const json = JSON.parse(readFileSync(join(out, runDir, 'report.json'), 'utf8')) as { runId: string };
    expect(json.runId).toBe(JSON.parse(last).runId);
    expect(readFileSync(join(out, runDir, 'report.md'), 'utf8')).toMatch(/Pooled AUC/);
    expect(stdout).toMatch(/\| site-a \| \d\.\d{3} \|/);
    expect(report.final_model_digest).toMatch(/^[0-9a-f]{128}$/);
    demoDigest = report.final_model_digest;
  });

  // The in-process simulator is the same engine and the same site executors, so the same plan,
  // hospitals, model and seed give the bit-identical final model (docs/ARCHITECTURE.md).
  it('simulate on the same plan, cohorts and seed ends with the same final model digest', async () => {
    expect(demoDigest).toBeDefined();
    const planFile = join(out, 'plan.json');
    const { initialModel: _ignored, ...plan } = demoPlan(
      { sslRounds: 1, finetuneRounds: 1, seed: 7, sites: 2 },
      '',
    );
    writeFileSync(planFile, JSON.stringify(plan));
    const cohort = join(out, 'cohort');
    const { stdout, code } = await cli(
      'simulate',
      '--plan',
      planFile,
      '--cohort',
      join(cohort, 'site-a'),
      join(cohort, 'site-b'),
      '--tiny',
      '--seed',
      '7',
      '--out',
      out,
      '--json',
    );
    expect(code).toBe(0);
    const report = lastJson<{ state: string; final_model_digest: string; sites: { site: string }[] }>(stdout);
    expect(report.state).toBe('completed');
    expect(report.sites.map((s) => s.site)).toEqual(['site-a', 'site-b']);
    expect(report.final_model_digest).toBe(demoDigest);
  });

  // `demo --cohort DIR… --plan FILE --seed S`: the given hospitals instead of generated ones. Over
  // sockets, signed and with agent processes again, it must land on the same bits as both runs above.
  it('demo --cohort on those hospitals with that plan and seed ends with the same digest again', async () => {
    expect(demoDigest).toBeDefined();
    const cohort = join(out, 'cohort');
    const { stdout, code } = await cli(
      'demo',
      '--quick',
      '--cohort',
      join(cohort, 'site-a'),
      join(cohort, 'site-b'),
      '--plan',
      join(out, 'plan.json'),
      '--seed',
      '7',
      '--out',
      join(out, 'again'),
      '--timeout',
      '100',
      '--json',
    );
    expect(code).toBe(0);
    const report = lastJson<{ state: string; final_model_digest: string; sites: { site: string }[] }>(stdout);
    expect(report.state).toBe('completed');
    expect(report.sites.map((s) => s.site)).toEqual(['site-a', 'site-b']);
    expect(report.final_model_digest).toBe(demoDigest);
  });
});
