import { lossSeries, pooledHistogram, rocFromHistogram, roundLabel, timeline } from './run-model';
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
});
