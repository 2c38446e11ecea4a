import type { SecAggStepName } from '../privacy/secagg-sessions';
import type { SecureAggregationSettings } from '../privacy/secagg-task';
import type { SiteMetrics } from '../types';
import { compareIds } from './schedule';

/**
 * A training attempt with secure aggregation (docs/PRIVACY.md §3, docs/ARCHITECTURE.md). Its
 * first step is the attempt's ordinary collecting phase, except that a site answers with its keys
 * (`secagg-keys`, sent once it has trained) instead of an update: quorum, deadline, retries and
 * disconnect grace work as for clear updates. The three steps after it run here, each with its
 * own deadline (the round deadline again, from when the step opens):
 *
 *   keys ─close─▶ shares ─close─▶ masked ─close─▶ unmask ─▶ aggregate (the unmasked sum)
 *
 * Closing a step is a request (`secagg-close`): the adapter's `SecAggServer` ends it and sends the
 * next step's messages, then answers `secagg-closed`; while it does, the step is `opening` and
 * takes no message. Sites that drop after sharing their keys are recovered from the others' shares
 * as long as t of every neighbourhood remain; below that the server refuses to close and the
 * attempt fails (retry policy applies).
 */
export interface SecureAttempt {
  settings: SecureAggregationSettings;
  /** The clear training metrics each site sent with its keys (loss…), for the round's metric rows. */
  metrics: Record<string, SiteMetrics>;
  /** After the keys step: the step running now. */
  step?: SecureStep;
}

export interface SecureStep {
  name: Exclude<SecAggStepName, 'keys'>;
  /** The adapter is closing the step before (sending this step's messages). */
  opening: boolean;
  deadlineMs: number;
  /** Sites expected to send this step's message: those that sent the step before's, in id order. */
  expected: string[];
  sent: string[];
  /** Expected sites that left: out of the step at this time unless their status keeps them. */
  graceUntil: Record<string, number>;
  /** Out of the step (left and did not come back, or their message was refused). */
  gone: string[];
}

export type SecureStepDecision =
  { kind: 'wait' } | { kind: 'close'; sent: string[] } | { kind: 'fail'; reason: string };

/** The step closes once every expected site sent or is gone, or at its deadline; it needs the quorum. */
export function decideSecureStep(step: SecureStep, quorum: number, nowMs: number): SecureStepDecision {
  if (step.opening) return { kind: 'wait' };
  const waiting = step.expected.filter((id) => !step.sent.includes(id) && !step.gone.includes(id));
  const sent = [...step.sent].sort(compareIds);
  if (waiting.length > 0 && nowMs < step.deadlineMs && sent.length + waiting.length >= quorum)
    return { kind: 'wait' };
  if (sent.length >= Math.max(2, quorum)) return { kind: 'close', sent };
  return {
    kind: 'fail',
    reason:
      `secure aggregation: ${sent.length} of ${step.expected.length} site(s) sent their ${step.name} ` +
      `(${Math.max(2, quorum)} needed${nowMs >= step.deadlineMs ? ', deadline passed' : ''})`,
  };
}

/** The step that follows the one whose senders are `members`. */
export function nextSecureStep(after: SecAggStepName, members: string[]): SecureStep | undefined {
  const name =
    after === 'keys' ? 'shares' : after === 'shares' ? 'masked' : after === 'masked' ? 'unmask' : undefined;
  if (!name) return undefined;
  return { name, opening: true, deadlineMs: 0, expected: members, sent: [], graceUntil: {}, gone: [] };
}

/** May `siteId` send `step`'s message now? (the adapter asks before admitting it into the server). */
export function acceptsSecure(
  secure: SecureAttempt,
  step: SecAggStepName,
  siteId: string,
  keysOpen: boolean,
): boolean {
  if (step === 'keys') return secure.step === undefined && keysOpen;
  const s = secure.step;
  return (
    s !== undefined &&
    s.name === step &&
    !s.opening &&
    s.expected.includes(siteId) &&
    !s.sent.includes(siteId) &&
    !s.gone.includes(siteId)
  );
}
