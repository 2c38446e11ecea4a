import { RoundState } from '../persistence/records';

/**
 * One round as data, with no I/O and no clock of its own: which sites were asked, what each
 * answered, and — given "now" — whether the round is still collecting, can be aggregated, or
 * failed its quorum. The RoundsService feeds it events and acts on its decisions, so every rule
 * (quorum, deadline, dropped sites, retries) is unit-testable without sockets or timers.
 *
 *   dispatched ──collect──▶ collecting ──aggregate──▶ aggregating ──finish──▶ done
 *        │                      │  └──retry──▶ dispatched (no quorum, attempts left)
 *        └──────fail────────────┴──────────────────────┴──fail──▶ failed
 */
export const ROUND_TRANSITIONS = {
  collect: { from: ['dispatched'], to: 'collecting' },
  retry: { from: ['dispatched', 'collecting'], to: 'dispatched' },
  aggregate: { from: ['collecting'], to: 'aggregating' },
  finish: { from: ['aggregating'], to: 'done' },
  fail: { from: ['dispatched', 'collecting', 'aggregating'], to: 'failed' },
} as const satisfies Record<string, { from: readonly RoundState[]; to: RoundState }>;

export type RoundAction = keyof typeof ROUND_TRANSITIONS;

/** What became of one selected site in this attempt. */
export type SiteOutcome = 'waiting' | 'answered' | 'dropped';

/** The round's verdict at a moment in time. */
export type RoundDecision =
  | { kind: 'wait' }
  | { kind: 'close'; why: 'all-answered' | 'deadline'; answered: string[] }
  | { kind: 'retry'; reason: string }
  | { kind: 'fail'; reason: string };

export class RoundTransitionError extends Error {}

export interface RoundMachineOptions {
  /** Sites the round was dispatched to (in any order; kept sorted by id). */
  selected: readonly string[];
  /** Valid answers needed to aggregate (the plan's quorum.minSites). */
  quorum: number;
  /** Epoch ms after which nothing more is accepted. */
  deadlineMs: number;
  /** 1 for the first attempt. */
  attempt: number;
  /** Attempts allowed in all (1 + the plan's maxRetries). */
  maxAttempts: number;
  state?: RoundState;
}

export class RoundStateMachine {
  private current: RoundState;
  private readonly outcomes = new Map<string, SiteOutcome>();
  private readonly dropReasons = new Map<string, string>();

  constructor(private readonly options: RoundMachineOptions) {
    this.current = options.state ?? 'dispatched';
    for (const site of [...options.selected].sort(compareIds)) this.outcomes.set(site, 'waiting');
  }

  get state(): RoundState {
    return this.current;
  }

  get attempt(): number {
    return this.options.attempt;
  }

  get quorum(): number {
    return this.options.quorum;
  }

  get deadlineMs(): number {
    return this.options.deadlineMs;
  }

  /** Applies a transition or throws: a wrong transition is a bug in the caller, never input. */
  apply(action: RoundAction): RoundState {
    const { from, to } = ROUND_TRANSITIONS[action];
    if (!(from as readonly RoundState[]).includes(this.current)) {
      throw new RoundTransitionError(`round cannot ${action} while ${this.current}`);
    }
    this.current = to;
    return to;
  }

  can(action: RoundAction): boolean {
    return (ROUND_TRANSITIONS[action].from as readonly RoundState[]).includes(this.current);
  }

  /** True when the site was selected and has neither answered nor been dropped. */
  isWaitingFor(siteId: string): boolean {
    return this.isOpen() && this.outcomes.get(siteId) === 'waiting';
  }

  isOpen(): boolean {
    return this.current === 'dispatched' || this.current === 'collecting';
  }

  /** A valid update (or evaluation result) arrived; false if it was not expected (late, duplicate). */
  answered(siteId: string): boolean {
    if (!this.isWaitingFor(siteId)) return false;
    this.outcomes.set(siteId, 'answered');
    return true;
  }

  /** The site disconnected, declined the task, or could not be reached: it no longer counts. */
  drop(siteId: string, reason: string): boolean {
    if (!this.isWaitingFor(siteId)) return false;
    this.outcomes.set(siteId, 'dropped');
    this.dropReasons.set(siteId, reason);
    return true;
  }

  outcome(siteId: string): SiteOutcome | undefined {
    return this.outcomes.get(siteId);
  }

  /** Sites with a valid answer, sorted by id (the fold order). */
  answeredSites(): string[] {
    return [...this.outcomes].filter(([, o]) => o === 'answered').map(([s]) => s);
  }

  droppedSites(): { siteId: string; reason: string }[] {
    return [...this.dropReasons].map(([siteId, reason]) => ({ siteId, reason }));
  }

  /**
   * The round's rule: close as soon as nobody is waiting, or at the deadline; closing needs the
   * quorum, otherwise retry while attempts remain, else fail. A quorum that can no longer be
   * reached (too many dropped) is decided at once instead of waiting for the deadline.
   */
  decide(nowMs: number): RoundDecision {
    if (!this.isOpen()) return { kind: 'wait' };
    const answered = this.answeredSites();
    const waiting = [...this.outcomes.values()].filter((o) => o === 'waiting').length;
    const pastDeadline = nowMs >= this.options.deadlineMs;
    const unreachable = answered.length + waiting < this.options.quorum;
    if (!pastDeadline && waiting > 0 && !unreachable) return { kind: 'wait' };
    if (answered.length >= this.options.quorum) {
      return { kind: 'close', why: waiting === 0 ? 'all-answered' : 'deadline', answered };
    }
    const reason =
      `quorum not reached: ${answered.length} valid answer(s) of ${this.options.quorum} needed ` +
      `(${this.outcomes.size} selected, ${this.droppedSites().length} dropped${pastDeadline ? ', deadline passed' : ''})`;
    return this.options.attempt < this.options.maxAttempts
      ? { kind: 'retry', reason }
      : { kind: 'fail', reason: `${reason}; no attempts left (${this.options.maxAttempts})` };
  }
}

/** Code-unit order, never locale: the same ids sort the same everywhere (libs/federated folds so). */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
