import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOCAL_ONLY_ROUND } from '../../../../libs/federated/src';
import type { RunResultsView, RunView } from './admin-client';
import { buildReport, bytesSentFromLog, pairedLines, reportMarkdown, reportTable } from './report';

describe('demo report', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'phcc-demo-report-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('counts signed bodies and payload chunks from the message log, not the acks', () => {
    const file = join(dir, 'messages.jsonl');
    const body = { sender: 'site-a', state: 'idle' };
    writeFileSync(
      file,
      [
        { time: 't', event: 'status', body },
        { time: 't', event: 'status', ack: { ok: true } },
        { time: 't', event: 'transfer:chunk', chunkIndex: 0, chunkBytes: 1000 },
        { time: 't', event: 'transfer:chunk', chunkIndex: 1, chunkBytes: 234 },
      ]
        .map((e) => JSON.stringify(e))
        .join('\n') + '\n',
    );
    expect(bytesSentFromLog(file)).toBe(Buffer.byteLength(JSON.stringify(body)) + 1234);
    expect(bytesSentFromLog(join(dir, 'absent.jsonl'))).toBe(0);
  });

  it("takes each site's global-model evaluation, the pooled AUC and the finished training rounds", () => {
    const run: RunView = {
      id: 'r-1',
      state: 'completed',
      plan: { stages: { ssl: { rounds: 1 }, finetune: { rounds: 1 } } },
      rounds: [
        { stage: 'ssl', round: 0, state: 'done', outputDigest: 'a' },
        { stage: 'finetune', round: 0, state: 'done', outputDigest: 'b' },
        { stage: 'evaluate', round: 0, state: 'done' },
      ],
    };
    const results: RunResultsView = {
      runId: 'r-1',
      state: 'completed',
      metrics: [
        { name: 'eval/auc', value: 0.7, siteId: 'site-a' },
        { name: 'eval/pooled_auc', value: 0.65 },
        { name: 'eval/mean_site_auc', value: 0.6 },
      ],
      evaluations: [
        { modelOf: 'site-b', siteId: 'site-a', n: 10, nPositive: 4, auc: 0.1 },
        { modelOf: 'global', siteId: 'site-a', n: 10, nPositive: 4, auc: 0.7, aucLow: 0.4, aucHigh: 0.9 },
        { modelOf: 'global', siteId: 'site-b', n: 8, nPositive: 3, auc: 0.5 },
      ],
    };
    const report = buildReport(run, results, ['site-a', 'site-b', 'site-c'], (id) => join(dir, id), 12.34);
    expect(report).toMatchObject({
      runId: 'r-1',
      pooled_auc: 0.65,
      mean_site_auc: 0.6,
      rounds: 2,
      wall_s: 12.3,
    });
    expect(report.final_model_digest).toBe('b');
    expect(report.sites).toEqual([
      { site: 'site-a', auc: 0.7, ci95: [0.4, 0.9], n: 10, nPositive: 4, bytesSent: 0 },
      { site: 'site-b', auc: 0.5, ci95: null, n: 8, nPositive: 3, bytesSent: 0 },
      { site: 'site-c', auc: null, ci95: null, n: 0, nPositive: 0, bytesSent: 0 },
    ]);
    expect(reportTable(report)[2]).toBe('| site-a | 0.700 | 0.400–0.900 | 10 (4) | 0 |');
    expect(reportMarkdown(report)).toMatch(/Pooled AUC .*\*\*0\.650\*\*/);
    expect(report.cross_site_auc).toEqual({ 'site-b': { 'site-a': 0.1 } });
    expect(reportMarkdown(report)).toContain('| site-b | 0.100 | n/a | n/a |');
    // The local-only round (evaluation.crossSiteModels: local-only) trains no global: not counted.
    const localOnly = buildReport(
      {
        ...run,
        rounds: [...run.rounds, { stage: 'finetune', round: LOCAL_ONLY_ROUND, state: 'done' }],
      },
      results,
      ['site-a'],
      (id) => join(dir, id),
      1,
    );
    expect([localOnly.rounds, localOnly.final_model_digest]).toEqual([2, 'b']);
    expect(reportMarkdown(report)).toContain("each site's local fine-tuned model");
    const localOnlyPlan = { ...run.plan, evaluation: { crossSiteModels: 'local-only' } };
    const marked = buildReport(
      { ...run, plan: localOnlyPlan },
      results,
      ['site-a'],
      (id) => join(dir, id),
      1,
    );
    expect(reportMarkdown(marked)).toContain(
      "each site's local-only model — trained on that site's data alone",
    );
  });

  it("carries the results' paired comparisons and prints one line each", () => {
    const run: RunView = { id: 'r-2', state: 'completed', plan: { stages: {} }, rounds: [] };
    const comparison = {
      modelA: 'a'.repeat(128),
      modelB: 'b'.repeat(128),
      difference: {
        estimate: -0.05,
        ci95: [-0.12, 0.02] as [number, number],
        standardError: 0.036,
        z: -1.4,
        p: 0.1615,
      },
      heterogeneity: { q: 1.5, df: 2, p: 0.47, i2: 0 },
      aucA: { estimate: 0.8, ci95: [0.7, 0.9] as [number, number] },
      aucB: { estimate: 0.85, ci95: [0.76, 0.94] as [number, number] },
      nPositive: 20,
      nNegative: 25,
      sites: [],
      leftOut: [],
    };
    const base = { runId: 'r-2', state: 'completed', metrics: [], evaluations: [] };
    expect(buildReport(run, base, [], () => '', 1)).not.toHaveProperty('paired');
    const report = buildReport(run, { ...base, paired: [comparison] }, [], () => '', 1);
    expect(report.paired).toEqual([comparison]);
    expect(pairedLines(report)).toEqual([
      'paired: final − bbbbbbbbbbbbbbbb…: ΔAUC -0.050 (95 % CI -0.120 to +0.020), p = 0.162; AUC 0.800 vs 0.850; 0 site(s), Q = 1.50 (df 2), I² = 0 %',
    ]);
  });
});
