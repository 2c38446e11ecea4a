import { DP_METRICS } from '../../../../libs/federated/src/strategies/private';
import { DEFAULT_MIN_BIN_COUNT } from '../../../../libs/metrics/src/private-histogram';
import type { MetricRecord } from '../persistence/records';
import type { RunPlanDto } from './dto/run-plan.dto';

/** What one aggregated training round cost, as its DP round metrics recorded it. */
export interface PrivacyRound {
  stage: string;
  round: number;
  /** ε of the run up to and including this round. */
  epsilon: number;
  roundEpsilon: number;
  clip: number;
}

/**
 * The run's privacy, for its results, the report and the dashboard: the plan's settings and what
 * the accountant says was spent. `epsilon` is null without DP (no guarantee, not ε = 0); it is
 * the ε of the training rounds aggregated so far (the run's final ε once it completed).
 */
export interface PrivacyView {
  secureAggregation: boolean;
  dp: {
    epsilon: number;
    delta: number;
    noiseMultiplier: number | null;
    noise: 'central' | 'distributed';
    adaptiveClipping: boolean;
    rounds: PrivacyRound[];
  } | null;
  /** k of the released evaluation histograms (every bin holds ≥ k patients). */
  minBinCount: number;
  /** `demo --json`'s shape: `{ epsilon, delta }` with DP, else null. */
  epsilon: number | null;
  delta: number | null;
}

const STAGE_ORDER: Record<string, number> = { ssl: 0, finetune: 1 };

/** The engine records a fold's round metrics under `train/` (engine.ts, aggregation-finished). */
const recorded = (name: string): string => `train/${name}`;
const DP_RECORDED = new Map(Object.values(DP_METRICS).map((name) => [recorded(name), name]));

export function privacyView(plan: RunPlanDto, metrics: readonly MetricRecord[]): PrivacyView | null {
  const privacy = plan.privacy;
  if (!privacy) return null;
  const dp = privacy.dp;
  const byRound = new Map<string, { stage: string; round: number; values: Record<string, number> }>();
  for (const m of metrics) {
    if (m.siteId !== undefined || m.stage === undefined || m.round === undefined) continue;
    const name = DP_RECORDED.get(m.name);
    if (name === undefined) continue;
    const key = `${m.stage}/${m.round}`;
    const row = byRound.get(key) ?? { stage: m.stage, round: m.round, values: {} };
    row.values[name] = m.value;
    byRound.set(key, row);
  }
  const rounds: PrivacyRound[] = [...byRound.values()]
    .filter((r) => r.values[DP_METRICS.epsilon] !== undefined)
    .sort((a, b) => (STAGE_ORDER[a.stage] ?? 9) - (STAGE_ORDER[b.stage] ?? 9) || a.round - b.round)
    .map((r) => ({
      stage: r.stage,
      round: r.round,
      epsilon: r.values[DP_METRICS.epsilon],
      roundEpsilon: r.values[DP_METRICS.roundEpsilon] ?? NaN,
      clip: r.values[DP_METRICS.clip] ?? NaN,
    }));
  const last = rounds[rounds.length - 1];
  const noiseMultiplier = last
    ? (metrics.find((m) => m.name === recorded(DP_METRICS.noiseMultiplier) && m.siteId === undefined)?.value ?? null)
    : (dp?.noiseMultiplier ?? null);
  const view: PrivacyView['dp'] = dp
    ? {
        // Composition only grows ε, so the largest recorded is the run's (rows may come unordered).
        epsilon: rounds.reduce((max, r) => Math.max(max, r.epsilon), 0),
        delta: dp.delta,
        noiseMultiplier,
        noise: dp.noise ?? (privacy.secureAggregation ? 'distributed' : 'central'),
        adaptiveClipping: dp.adaptive === true,
        rounds,
      }
    : null;
  return {
    secureAggregation: privacy.secureAggregation,
    dp: view,
    minBinCount: privacy.evaluation?.minBinCount ?? DEFAULT_MIN_BIN_COUNT,
    epsilon: view ? view.epsilon : null,
    delta: view ? view.delta : null,
  };
}
