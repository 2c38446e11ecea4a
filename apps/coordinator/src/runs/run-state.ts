import { RunState } from '../persistence/records';

/**
 * The run lifecycle as data: which states each action may leave from, and where it goes.
 *
 *   created ──start──▶ running ──(rounds)──▶ completed | failed
 *      │                  │
 *      └──────stop────────┴──▶ stopped
 *
 * `complete` and `fail` belong to the round orchestration; the admin API offers start and stop.
 */
export const RUN_TRANSITIONS = {
  start: { from: ['created'], to: 'running' },
  stop: { from: ['created', 'running'], to: 'stopped' },
  complete: { from: ['running'], to: 'completed' },
  fail: { from: ['created', 'running'], to: 'failed' },
} as const satisfies Record<string, { from: readonly RunState[]; to: RunState }>;

export type RunAction = keyof typeof RUN_TRANSITIONS;

export function canTransition(state: RunState, action: RunAction): boolean {
  return (RUN_TRANSITIONS[action].from as readonly RunState[]).includes(state);
}

/** Terminal states: nothing leaves them. */
export function isTerminal(state: RunState): boolean {
  return state === 'completed' || state === 'failed' || state === 'stopped';
}
