import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../libs/common/src';
import { cli } from './support/in-process-cli';

/**
 * `phcc-fed demo --quick --plan configs/plans/private.yaml --json` end to end (#17): the real
 * coordinator in-process and two `phcc-fed agent` processes (dist/) that approve the plan, one
 * SSL and one fine-tune round under secure aggregation and DP (clip + central noise on the
 * unmasked sum, ε from the RDP accountant) and a
 * final evaluation with k-anonymous histograms; the report's JSON carries privacy {epsilon, delta}.
 */
jest.setTimeout(180_000);

interface PrivateReport {
  state: string;
  rounds: number;
  pooled_auc: number;
  pooled_auc_error_bound: number;
  sites: { site: string; auc: number | null; n: number }[];
  privacy: {
    epsilon: number;
    delta: number;
    noise_multiplier: number;
    noise: string;
    min_bin_count: number;
    secure_aggregation: boolean;
  };
}

describe('phcc-fed demo --quick --plan configs/plans/private.yaml', () => {
  let out: string;
  beforeAll(() => {
    out = mkdtempSync(join(tmpdir(), 'phcc-demo-private-e2e-'));
  });
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('completes and reports the privacy spent, ε at δ, and AUC from k-anonymous histograms', async () => {
    const { stdout, code } = await cli(
      'demo',
      '--quick',
      '--plan',
      join(packageRoot(), 'configs', 'plans', 'private.yaml'),
      '--sites',
      '2',
      '--patients',
      '40',
      '--ssl-rounds',
      '1',
      '--finetune-rounds',
      '1',
      '--seed',
      '7',
      '--out',
      out,
      '--timeout',
      '150',
      '--json',
    );
    expect(code).toBe(0);
    const report = JSON.parse(stdout.trim().split('\n').at(-1)!) as PrivateReport;
    expect(report.state).toBe('completed');
    expect(report.rounds).toBe(2);
    // targetEpsilon 8 over the plan's 2 training rounds: the derived noise spends just under 8.
    expect(report.privacy.epsilon).toBeLessThanOrEqual(8);
    expect(report.privacy.epsilon).toBeGreaterThan(7.9);
    expect(report.privacy.delta).toBe(1e-5);
    expect(report.privacy.noise).toBe('central');
    expect(report.privacy.noise_multiplier).toBeGreaterThan(0.5);
    expect(report.privacy.min_bin_count).toBe(5);
    expect(report.privacy.secure_aggregation).toBe(true);
    expect(report.pooled_auc).toBeGreaterThanOrEqual(0);
    expect(report.pooled_auc).toBeLessThanOrEqual(1);
    expect(report.pooled_auc_error_bound).toBeGreaterThan(0);
    expect(stdout).toMatch(/privacy: differential privacy \(ε, δ\) = \(\d\.\d\d, 0\.00001\) spent/);
    // What each agent sent: its evaluation histogram has no bin under 5 patients.
    const runDir = readdirSync(out).find((d) => d.startsWith('demo-'))!;
    for (const site of ['site-a', 'site-b']) {
      const log = readFileSync(join(out, runDir, 'agents', site, 'messages.jsonl'), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map(
          (l) =>
            JSON.parse(l) as {
              type?: string;
              body?: { histogram?: { edges?: number[]; positive: number[]; negative: number[] } };
            },
        );
      // Under secure aggregation no clear update leaves the site, only masked inputs.
      expect(log.filter((e) => e.type === 'update')).toEqual([]);
      expect(log.some((e) => e.type?.startsWith('secagg-'))).toBe(true);
      const sent = log.filter((e) => e.type === 'eval-result');
      expect(sent.length).toBeGreaterThan(0);
      for (const { body } of sent) {
        const h = body!.histogram!;
        expect(h.edges).toBeDefined();
        h.positive.forEach((p, b) => expect(p + h.negative[b]).toBeGreaterThanOrEqual(5));
      }
    }
  });
});
