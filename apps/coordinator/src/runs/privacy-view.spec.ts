import { DP_METRICS } from '../../../../libs/federated/src/strategies/private';
import type { MetricRecord } from '../persistence/records';
import type { RunPlanDto } from './dto/run-plan.dto';
import { privacyView } from './privacy-view';

const at = '2026-12-02T00:00:00.000Z';
const row = (stage: string, round: number, name: string, value: number, siteId?: string): MetricRecord => ({
  runId: 'r',
  stage,
  round,
  name: `train/${name}`,
  value,
  recordedAt: at,
  ...(siteId ? { siteId } : {}),
});
const plan = (privacy?: RunPlanDto['privacy']) => ({ privacy }) as RunPlanDto;

describe('privacyView (run results)', () => {
  it('is null without a privacy section, and has no ε without DP (k defaults to 5)', () => {
    expect(privacyView(plan(), [])).toBeNull();
    expect(privacyView(plan({ secureAggregation: false }), [])).toMatchObject({
      dp: null,
      epsilon: null,
      delta: null,
      minBinCount: 5,
    });
  });

  it('reads the engine’s train/dp/* round metrics: rounds in stage order, the run’s ε the largest', () => {
    const dp = { clip: 1, noiseMultiplier: 1.2, delta: 1e-5 };
    const metrics = [
      row('finetune', 0, DP_METRICS.epsilon, 3),
      row('finetune', 0, DP_METRICS.roundEpsilon, 2),
      row('finetune', 0, DP_METRICS.clip, 0.9),
      row('ssl', 0, DP_METRICS.epsilon, 2),
      row('ssl', 0, DP_METRICS.roundEpsilon, 2),
      row('ssl', 0, DP_METRICS.clip, 1),
      row('ssl', 0, DP_METRICS.noiseMultiplier, 1.2),
      row('ssl', 0, 'loss', 0.3),
      row('ssl', 0, DP_METRICS.epsilon, 99, 'site-a'), // a site's own metric is never the run's ε
    ];
    const view = privacyView(plan({ secureAggregation: false, dp, evaluation: { minBinCount: 7 } }), metrics)!;
    expect(view.epsilon).toBe(3);
    expect(view.delta).toBe(1e-5);
    expect(view.minBinCount).toBe(7);
    expect(view.dp).toMatchObject({ noise: 'central', noiseMultiplier: 1.2, adaptiveClipping: false });
    expect(view.dp!.rounds).toEqual([
      { stage: 'ssl', round: 0, epsilon: 2, roundEpsilon: 2, clip: 1 },
      { stage: 'finetune', round: 0, epsilon: 3, roundEpsilon: 2, clip: 0.9 },
    ]);
  });
});
