import type { SiteState } from '../../../protocol/src';
import { compareIds } from './schedule';
import type { AttemptState } from './state';

/**
 * The rule of one round attempt, given "now": still collecting, close and aggregate, retry, or
 * fail. Pure functions over the attempt's data.
 *
 *   dispatched ──▶ collecting ──▶ aggregating ──▶ done
 *        │              │  └──retry──▶ dispatched (no quorum, attempts left)
 *        └──────────────┴──────────────┴──fail──▶ failed
 */
export type AttemptDecision =
  | { kind: 'wait' }
  | { kind: 'close'; why: 'all-answered' | 'deadline'; answered: string[] }
  | { kind: 'retry'; reason: string }
  | { kind: 'fail'; reason: string };

export interface AttemptRule {
  /** Valid answers needed to aggregate (the plan's quorum.minSites). */
  quorum: number;
  /** Attempts allowed in all (1 + the plan's maxRetries). */
  maxAttempts: number;
  nowMs: number;
}

/** Sites with a valid answer, in site-id order (the fold order). */
export function answeredSites(attempt: AttemptState): string[] {
  return Object.keys(attempt.sites)
    .filter((id) => attempt.sites[id].outcome === 'answered')
    .sort(compareIds);
}

/**
 * Close as soon as nobody is waiting, or at the deadline; closing needs the quorum, otherwise
 * retry while attempts remain, else fail. A quorum that can no longer be reached (too many
 * dropped) is decided at once instead of waiting for the deadline.
 */
export function decideAttempt(attempt: AttemptState, rule: AttemptRule): AttemptDecision {
  const tasks = Object.values(attempt.sites);
  const answered = answeredSites(attempt);
  const waiting = tasks.filter((t) => t.outcome === 'waiting').length;
  const dropped = tasks.filter((t) => t.outcome === 'dropped').length;
  const pastDeadline = rule.nowMs >= attempt.deadlineMs;
  const unreachable = answered.length + waiting < rule.quorum;
  if (!pastDeadline && waiting > 0 && !unreachable) return { kind: 'wait' };
  if (answered.length >= rule.quorum) {
    return { kind: 'close', why: waiting === 0 ? 'all-answered' : 'deadline', answered };
  }
  const reason =
    `quorum not reached: ${answered.length} valid answer(s) of ${rule.quorum} needed ` +
    `(${tasks.length} selected, ${dropped} dropped${pastDeadline ? ', deadline passed' : ''})`;
  return attempt.number < rule.maxAttempts
    ? { kind: 'retry', reason }
    : { kind: 'fail', reason: `${reason}; no attempts left (${rule.maxAttempts})` };
}

/** What a site's status after reconnecting says about the task the round waits for. */
export type ReconnectVerdict = 'keep' | 'drop';

/**
 * An agent sends a status right after every welcome, naming the task it is carrying out. `idle`
 * means it holds none — a restarted process, whose task died with the old one — so waiting longer
 * is pointless; `error` about this task means it failed. Anything else means the task is running,
 * uploading, or queued behind the task named.
 */
export function reconnectVerdict(
  status: { state: SiteState; taskId?: string },
  taskId: string,
): ReconnectVerdict {
  if (status.state === 'idle') return 'drop';
  if (status.state === 'error' && status.taskId === taskId) return 'drop';
  return 'keep';
}
