import { delongPairedCovariance } from '../../../libs/metrics/src';
import { PAIRED_EVALUATION_ROUND } from '../../../libs/federated/src/engine/schedule';
import { pairedMetricName, pairedView } from '../../coordinator/src/evaluation/paired-results';
import {
  lossSeries,
  pairedPanels,
  pooledHistogram,
  rocFromHistogram,
  roundLabel,
  timeline,
} from './run-model';
import { MetricLive, RoundLive, RunPlan, TaskLive, UpdateLive } from './types';

const plan = { quorum: { minSites: 2 } } as RunPlan;
const round = (
  stage: string,
  n: number,
  state: RoundLive['state'],
  extra: Partial<RoundLive> = {},
): RoundLive => ({
  runId: 'r',
  stage,
  round: n,
  state,
  startedAt: '2026-01-01T00:00:00.000Z',
  deadlineAt: '2026-01-01T01:00:00.000Z',
  inputBytes: 1000,
  ...extra,
});

const task = (id: string, stage: string, siteId: string, state: TaskLive['state']): TaskLive => ({
  id,
  runId: 'r',
  stage,
  round: 0,
  siteId,
  state,
  createdAt: '',
  attempts: 1,
});
const metric = (stage: string, name: string, value: number, siteId?: string): MetricLive => ({
  runId: 'r',
  stage,
  round: 0,
  name,
  value,
  recordedAt: '',
  ...(siteId ? { siteId } : {}),
});

describe('dashboard run model', () => {
  it('builds the timeline: order, duration, answering sites, refused updates with reasons, bytes', () => {
    const rounds = [
      round('finetune', 0, 'collecting'),
      round('ssl', 0, 'done', { endedAt: '2026-01-01T00:01:30.000Z' }),
      round('evaluate', 0, 'dispatched', { evaluationKind: 'final' }),
    ];
    const tasks: TaskLive[] = [
      task('t1', 'ssl', 'b', 'received'),
      task('t2', 'ssl', 'a', 'received'),
      task('t3', 'finetune', 'a', 'sent'),
      task('t4', 'finetune', 'b', 'received'),
    ];
    const updates: UpdateLive[] = [
      { stage: 'ssl', round: 0, siteId: 'a', bytes: 300, nSamples: 5, status: 'aggregated', receivedAt: '' },
      { stage: 'ssl', round: 0, siteId: 'b', bytes: 200, nSamples: 5, status: 'aggregated', receivedAt: '' },
      {
        stage: 'finetune',
        round: 0,
        siteId: 'b',
        bytes: 250,
        nSamples: 5,
        status: 'rejected',
        rejectReason: 'NORM_BOUND: update norm 9.1 above 5',
        receivedAt: '',
      },
    ];
    const rows = timeline(plan, rounds, tasks, updates, [], Date.parse('2026-01-01T00:00:10.000Z'));
    expect(rows.map((r) => r.label)).toEqual(['SSL 1', 'fine-tune 1', 'final evaluation']);
    expect(rows[0]).toMatchObject({
      durationMs: 90_000,
      answered: ['a', 'b'],
      accepted: 2,
      bytesUp: 500,
      bytesDown: 2000,
    });
    expect(rows[1]).toMatchObject({
      durationMs: 10_000,
      answered: ['b'],
      waiting: ['a'],
      accepted: 0,
      refused: [{ siteId: 'b', reason: 'NORM_BOUND: update norm 9.1 above 5' }],
    });
    expect(roundLabel({ stage: 'finetune', round: 10_000, tokenCentring: true })).toBe('token centring');
    expect(roundLabel({ stage: 'finetune', round: 20_000, localOnly: true })).toBe('local-only training');
    const [localOnly] = timeline(
      plan,
      [round('finetune', 20_000, 'done', { localOnly: true })],
      [],
      [],
      [],
      0,
    );
    expect(localOnly.label).toBe('local-only training');
    expect(roundLabel({ stage: 'evaluate', round: 9000, evaluationKind: 'cross-site' })).toBe(
      'cross-site evaluation',
    );
  });

  it("names whose local model each cross-site round scored, from the round's evaluations", () => {
    const cross = (n: number) => round('evaluate', n, 'done', { evaluationKind: 'cross-site' });
    const rows = timeline(
      plan,
      [round('evaluate', 0, 'done', { evaluationKind: 'final' }), cross(10_000), cross(10_001)],
      [],
      [],
      [
        { stage: 'evaluate', round: 0, modelOf: 'global' },
        { stage: 'evaluate', round: 10_000, modelOf: 'site-a' },
        { stage: 'evaluate', round: 10_001, modelOf: 'site-b' },
      ],
    );
    expect(rows.map((r) => r.label)).toEqual([
      'final evaluation',
      "cross-site evaluation of site-a's model",
      "cross-site evaluation of site-b's model",
    ]);
  });

  it('draws the ROC from a histogram from the highest bin down, and pools histograms bin by bin', () => {
    const roc = rocFromHistogram({ bins: 2, positive: [1, 3], negative: [3, 1] });
    expect(roc).toEqual({ fpr: [0, 0.25, 1], tpr: [0, 0.75, 1] });
    expect(
      pooledHistogram([
        { bins: 2, positive: [1, 3], negative: [3, 1] },
        { bins: 2, positive: [0, 2], negative: [1, 0] },
      ]),
    ).toEqual({ bins: 2, positive: [1, 5], negative: [4, 1] });
    expect(
      pooledHistogram([
        { bins: 2, positive: [0, 0], negative: [0, 0] },
        { bins: 3, positive: [], negative: [] },
      ]),
    ).toBeNull();
  });

  it('lays training loss out per round, run-wide and per site where sites reported it', () => {
    const loss = lossSeries([
      metric('finetune', 'train/loss', 0.6),
      metric('ssl', 'train/loss', 1.0),
      metric('ssl', 'train/loss', 1.1, 'a'),
      metric('evaluate', 'eval/pooled_auc', 0.7),
    ]);
    expect(loss).toEqual({
      labels: ['SSL 1', 'fine-tune 1'],
      series: { global: [1.0, 0.6], a: [1.1, null] },
    });
  });

  it('labels the paired evaluation round with how many models the final global is compared with', () => {
    const paired = round('evaluate', PAIRED_EVALUATION_ROUND, 'done', { evaluationKind: 'paired' });
    expect(roundLabel(paired)).toBe('paired evaluation');
    const withTwo = { ...plan, evaluation: { final: true, compareWith: ['b1', 'b2'] } } as RunPlan;
    expect(timeline(withTwo, [paired], [], [], [], 0)[0].label).toBe(
      'paired evaluation: final global vs 2 compared models',
    );
  });

  it("formats the coordinator's paired comparison: difference, CI, p, Q/I², per-site rows, left-out sites", () => {
    // The coordinator's own view of stored aggregates (GET /runs/{id}/results `paired`).
    const labels = [0, 0, 0, 0, 1, 1, 1, 1];
    const sites = {
      'site-a': delongPairedCovariance(
        labels,
        [0.1, 0.2, 0.6, 0.3, 0.7, 0.4, 0.8, 0.9],
        [0.2, 0.5, 0.3, 0.1, 0.4, 0.6, 0.7, 0.3],
      ),
      'site-b': delongPairedCovariance(
        labels,
        [0.3, 0.1, 0.2, 0.5, 0.4, 0.9, 0.6, 0.7],
        [0.4, 0.6, 0.1, 0.2, 0.3, 0.5, 0.8, 0.2],
      ),
      // Both models separate this site perfectly: zero variance, left out by name.
      'site-c': delongPairedCovariance(
        labels,
        [0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9],
        [0.0, 0.1, 0.2, 0.3, 0.5, 0.6, 0.7, 0.8],
      ),
    };
    const fields = ['aucA', 'aucB', 'varA', 'varB', 'covAB', 'nPos', 'nNeg'] as const;
    const metrics = Object.entries(sites).flatMap(([siteId, agg]) =>
      fields.map((f) => ({
        ...metric('evaluate', pairedMetricName(0, f), agg[f], siteId),
        round: PAIRED_EVALUATION_ROUND,
      })),
    );
    const a = 'a'.repeat(128);
    const b = 'b'.repeat(128);
    const [view] = pairedView(metrics, [b], a);
    const [panel] = pairedPanels([view]);
    const d = view.difference;
    const signed = (x: number) => (x < 0 ? `\u2212${(-x).toFixed(3)}` : `+${x.toFixed(3)}`);
    expect(panel.title).toBe('final global aaaaaaaaaaaa\u2026 \u2212 bbbbbbbbbbbb\u2026');
    expect([panel.modelA, panel.modelB]).toEqual([a, b]);
    expect(panel.difference).toBe(
      `${signed(d.estimate)} (95 % CI ${signed(d.ci95[0])} to ${signed(d.ci95[1])})`,
    );
    expect(panel.p).toBe(d.p.toFixed(3));
    expect(panel.heterogeneity).toBe(
      `Q ${view.heterogeneity.q.toFixed(2)} (df 1, p ${view.heterogeneity.p!.toFixed(3)}) \u00b7 I\u00b2 ${Math.round(view.heterogeneity.i2 * 100)} %`,
    );
    expect(panel.sites.map((s) => s.site)).toEqual(['site-a', 'site-b']);
    expect(panel.sites[0].aucA).toBe(sites['site-a'].aucA.toFixed(3));
    expect(panel.sites.map((s) => s.patients)).toEqual(['8 (4 proliferative)', '8 (4 proliferative)']);
    expect(panel.patients).toBe('16 (8 proliferative)');
    const weights = panel.sites.map((s) => Number(s.weight.replace(' %', '')));
    expect(weights.reduce((x, y) => x + y, 0)).toBeGreaterThanOrEqual(99);
    expect(panel.leftOut).toEqual([
      { site: 'site-c', aucs: '1.000 vs 1.000', reason: view.leftOut[0].reason },
    ]);
    expect(panel.leftOut[0].reason).toMatch(/zero DeLong variance/);
  });

  it('says one site has no heterogeneity, and prints tiny p-values as < 0.001', () => {
    const view = {
      modelA: null,
      modelB: 'c'.repeat(128),
      difference: {
        estimate: -0.2,
        ci95: [-0.25, -0.15] as [number, number],
        standardError: 0.025,
        z: -8,
        p: 1e-15,
      },
      heterogeneity: { q: 0, df: 0, p: null, i2: 0 },
      aucA: { estimate: 0.7, ci95: [0.6, 0.8] as [number, number] },
      aucB: { estimate: 0.9, ci95: [0.85, 0.95] as [number, number] },
      nPositive: 10,
      nNegative: 20,
      sites: [],
      leftOut: [],
    };
    const [panel] = pairedPanels([view]);
    expect(panel.difference).toBe('\u22120.200 (95 % CI \u22120.250 to \u22120.150)');
    expect(panel.p).toBe('< 0.001');
    expect(panel.heterogeneity).toBe('one site: no heterogeneity to estimate');
    expect(panel.title).toBe('final global unknown \u2212 cccccccccccc\u2026');
  });
});
