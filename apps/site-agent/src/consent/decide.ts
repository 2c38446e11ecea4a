import { InputError, PhccError } from '../../../../libs/common/src';
import { CONSENT_REFUSALS, ConsentRefusalCode } from '../../../../libs/protocol/src/consent';
import { ConsentPlan, planDigest, planEpsilon, planMinBinCount } from './plan';
import { PlanSummary, summarisePlan } from './summary';

// Why a site refused a plan: the codes travel in the task-ack, so libs/protocol defines them.
// Limits are checked before approval: a plan that breaks a site limit is refused even if its
// digest was approved (limits are the site's standing policy; approval is per plan).
export { CONSENT_REFUSALS } from '../../../../libs/protocol/src/consent';
export type { ConsentRefusalCode } from '../../../../libs/protocol/src/consent';

/** Limits a site always enforces, whatever it approved. */
export interface SiteLimits {
  /** Refuse any plan whose updates would leave in clear. */
  requireSecureAggregation?: boolean;
  /** Refuse plans whose evaluation histograms have bins under this many patients. */
  minBinCount?: number;
  /** Refuse plans whose run ε (at their δ) exceeds this; a plan without DP has ε = ∞. */
  maxEpsilon?: number;
}

export interface ConsentPolicy {
  approvals: ReadonlySet<string>;
  limits: SiteLimits;
}

export type ConsentDecision =
  | { approved: true; digest: string; summary: PlanSummary }
  | {
      approved: false;
      digest: string | null;
      code: ConsentRefusalCode;
      reason: string;
      summary: PlanSummary | null;
    };

export function checkLimits(limits: SiteLimits): SiteLimits {
  if (
    limits.minBinCount !== undefined &&
    !(Number.isInteger(limits.minBinCount) && limits.minBinCount >= 1)
  ) {
    throw new InputError(`site limit minBinCount must be a positive integer (got ${limits.minBinCount})`);
  }
  if (limits.maxEpsilon !== undefined && !(limits.maxEpsilon > 0)) {
    throw new InputError(`site limit maxEpsilon must be > 0 (got ${limits.maxEpsilon})`);
  }
  return limits;
}

/**
 * The agent's hook: call it with the plan of a run (as verified from the coordinator's signed
 * message) before training anything for that run. Pure: no I/O, same answer every time.
 */
export function decideConsent(plan: ConsentPlan, policy: ConsentPolicy): ConsentDecision {
  let summary: PlanSummary;
  let digest: string;
  try {
    digest = planDigest(plan);
    summary = summarisePlan(plan);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return {
      approved: false,
      digest: null,
      code: 'PLAN_MALFORMED',
      reason: `${CONSENT_REFUSALS.PLAN_MALFORMED}: ${why}`,
      summary: null,
    };
  }
  const refuse = (code: ConsentRefusalCode, detail: string): ConsentDecision => ({
    approved: false,
    digest,
    code,
    reason: `${CONSENT_REFUSALS[code]} (${detail})`,
    summary,
  });
  const { limits } = policy;
  const trains = summary.stages.length > 0;
  if (limits.requireSecureAggregation && trains && plan.privacy?.secureAggregation !== true) {
    return refuse('PLAN_NEEDS_SECURE_AGGREGATION', 'privacy.secureAggregation is not true');
  }
  const k = planMinBinCount(plan);
  if (limits.minBinCount !== undefined && k < limits.minBinCount) {
    return refuse('PLAN_BIN_COUNT_TOO_LOW', `plan k = ${k}, site minimum ${limits.minBinCount}`);
  }
  if (limits.maxEpsilon !== undefined && trains) {
    const eps = planEpsilon(plan);
    if (!(eps <= limits.maxEpsilon)) {
      return refuse(
        'PLAN_EPSILON_TOO_HIGH',
        `plan ε = ${Number.isFinite(eps) ? eps.toFixed(3) : '∞ (no DP)'}, site maximum ${limits.maxEpsilon}`,
      );
    }
  }
  if (!policy.approvals.has(digest)) return refuse('PLAN_NOT_APPROVED', `digest ${digest}`);
  return { approved: true, digest, summary };
}

/** What the agent throws (and reports with `code`) when it will not train a plan. */
export class ConsentRefusedError extends PhccError {
  constructor(readonly decision: Extract<ConsentDecision, { approved: false }>) {
    super(`plan refused: ${decision.reason}`, decision.code, 1);
  }
}
