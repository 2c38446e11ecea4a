import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../apps/cli/src/main';

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

  it('runs a federation to completion and reports per-site and pooled AUC', async () => {
    const lines: string[] = [];
    const so = jest.spyOn(process.stdout, 'write').mockImplementation((c) => (lines.push(String(c)), true));
    const se = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    process.exitCode = 0;
    try {
      await runCli(
        ['node', 'phcc-fed', '--log-level', 'silent', '--backend', 'wasm', 'demo', '--quick'].concat([
          '--sites',
          '2',
          '--patients',
          '24',
          '--ssl-rounds',
          '1',
          '--finetune-rounds',
          '1',
          '--out',
          out,
          '--timeout',
          '100',
          '--json',
        ]),
      );
    } finally {
      so.mockRestore();
      se.mockRestore();
    }
    const stdout = lines.join('');
    expect(process.exitCode ?? 0).toBe(0);
    const last = stdout.trim().split('\n').at(-1)!;
    const report = JSON.parse(last) as {
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
  });
});
