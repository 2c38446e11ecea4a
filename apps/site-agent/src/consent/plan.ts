import { RdpAccountant } from '../../../../libs/federated/src/privacy/dp/rdp-accountant';
import { DEFAULT_MIN_BIN_COUNT } from '../../../../libs/metrics/src/private-histogram';
import { planDigest as digestOfPlan, PLAN_DIGEST_PATTERN } from '../../../../libs/protocol/src/consent';

/**
 * The run plan as a site reviews it: the fields of the coordinator's validated plan that decide
 * what the site computes and what leaves it. Structural (a plain JSON object) so the agent does
 * not import the coordinator; unknown fields are kept, hashed and shown, never dropped.
 */
export interface ConsentStage {
  rounds: number;
  localEpochs: number;
  batchSize: number;
  optimiser: { name: string; lr: number };
  [more: string]: unknown;
}

export interface ConsentPrivacy {
  secureAggregation: boolean;
  threshold?: number;
  neighbours?: number;
  dp?: {
    clip: number;
    noiseMultiplier?: number;
    targetEpsilon?: number;
    delta: number;
    noise?: 'central' | 'distributed';
    adaptive?: boolean;
  };
  evaluation?: { minBinCount?: number };
}

export interface ConsentPlan {
  name?: string;
  stages: { ssl?: ConsentStage; finetune?: ConsentStage };
  strategy: { name: string; params?: Record<string, unknown> };
  encoding: string;
  /** `crossSiteModels`: 'local-only' asks each site for one more model, trained on its data alone. */
  evaluation: { final: boolean; everyKRounds?: number; crossSite?: boolean; crossSiteModels?: string };
  privacy?: ConsentPrivacy;
  [more: string]: unknown;
}

/**
 * The plan's digest, what a site approves: SHA-512 (lowercase hex) of the plan's canonical JSON
 * (libs/protocol `canonicalJson`: sorted keys, no whitespace). The coordinator shows the same
 * value by computing it the same way.
 */
export function planDigest(plan: ConsentPlan): string {
  return digestOfPlan(plan);
}

export { PLAN_DIGEST_PATTERN };

/**
 * Histogram resolution the plan releases: without a privacy section k = 1 (every patient may sit
 * alone); with one, the plan's k or the coordinator's default of 5 (run-plan.ts `strategyOf`).
 */
export function planMinBinCount(plan: ConsentPlan): number {
  if (!plan.privacy) return 1;
  return plan.privacy.evaluation?.minBinCount ?? DEFAULT_MIN_BIN_COUNT;
}

export function planRounds(plan: ConsentPlan): number {
  return (plan.stages.ssl?.rounds ?? 0) + (plan.stages.finetune?.rounds ?? 0);
}

/**
 * ε the whole run may spend at the plan's δ: the target when the plan states one (the
 * coordinator derives σ from it), else the RDP accountant over all rounds with every site in
 * every round (q = 1, an upper bound when sites are sampled). Infinity without DP.
 */
export function planEpsilon(plan: ConsentPlan): number {
  const dp = plan.privacy?.dp;
  if (!dp) return Infinity;
  if (dp.targetEpsilon !== undefined) return dp.targetEpsilon;
  return new RdpAccountant()
    .compose({ noiseMultiplier: dp.noiseMultiplier ?? 0, sampleRate: 1, steps: planRounds(plan) })
    .spent(dp.delta).epsilon;
}
