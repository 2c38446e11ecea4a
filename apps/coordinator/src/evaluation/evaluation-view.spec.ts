import { EvaluationRecord, MetricRecord } from '../persistence/records';
import { evaluationView } from './evaluation-view';

const at = '2026-01-01T00:00:00.000Z';

function row(
  round: number,
  modelOf: string,
  siteId: string,
  auc: number,
  modelDigest = `m${round}`,
): EvaluationRecord {
  return {
    runId: 'r',
    modelDigest,
    modelOf,
    siteId,
    stage: 'evaluate',
    round,
    n: 10,
    nPositive: 4,
    auc,
    aucLow: auc - 0.1,
    aucHigh: Math.min(1, auc + 0.1),
    recordedAt: at,
  };
}

function metric(name: string, round: number, value: number, siteId?: string): MetricRecord {
  return { runId: 'r', stage: 'evaluate', round, siteId, name, value, recordedAt: at };
}

describe('evaluationView', () => {
  it('groups every-k, final and cross-site rows into per-round views and the matrix', () => {
    const view = evaluationView(
      [
        row(2, 'global', 'b', 0.6),
        row(2, 'global', 'a', 0.5),
        row(2, 'global', 'a', 0.55), // the round re-ran after a restart: the later row wins
        row(4, 'global', 'a', 0.7),
        row(0, 'global', 'a', 0.8, 'final'),
        row(10_000, 'a', 'a', 0.9, 'local-a'),
        row(10_000, 'a', 'b', 0.65, 'local-a'),
        row(10_001, 'b', 'b', 0.85, 'local-b'),
        {
          ...row(10_001, 'b', 'a', 0),
          auc: undefined,
          aucLow: undefined,
          aucHigh: undefined,
          modelDigest: 'local-b',
        },
      ],
      [
        metric('eval/pooled_auc', 2, 0.57),
        metric('eval/pooled_auc', 0, 0.81),
        metric('eval/mean_site_auc', 0, 0.8),
        metric('eval/auc', 0, 0.8, 'a'),
        metric('crosssite/model_finetune_round', 10_000, 4, 'a'),
        metric('crosssite/model_finetune_round', 10_001, 3, 'b'),
      ],
    );
    expect(
      view.periodic.map((p) => [p.round, p.afterFinetuneRounds, p.pooledAuc, Object.keys(p.sites)]),
    ).toEqual([
      [2, 2, 0.57, ['a', 'b']],
      [4, 4, null, ['a']],
    ]);
    expect(view.periodic[0].sites.a.auc).toBe(0.55);
    expect(view.final).toEqual({
      round: 0,
      afterFinetuneRounds: null,
      modelDigest: 'final',
      pooledAuc: 0.81,
      meanSiteAuc: 0.8,
      sites: { a: { auc: 0.8, ci95: [0.8 - 0.1, 0.9], n: 10, nPositive: 4 } },
    });
    expect(view.crossSite?.models).toEqual({
      a: { digest: 'local-a', finetuneRound: 4 },
      b: { digest: 'local-b', finetuneRound: 3 },
    });
    expect(view.crossSite?.matrix.a.b).toEqual({ auc: 0.65, ci95: [0.65 - 0.1, 0.75], n: 10, nPositive: 4 });
    expect(view.crossSite?.matrix.b.a).toEqual({ auc: null, ci95: null, n: 10, nPositive: 4 });
    expect(Object.keys(view.crossSite!.matrix.b)).toEqual(['a', 'b']);
  });

  it('is empty for a run that has not evaluated yet', () => {
    expect(evaluationView([], [])).toEqual({ periodic: [], final: null, crossSite: null });
  });
});
