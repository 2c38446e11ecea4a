import type { Strategy, UpdateEntry, UpdateGate } from '../../../../libs/federated/src';
import type { EvalResultBody, TaskConfigDto } from '../../../../libs/protocol/src';
import type { ArrayLayout } from '../../../../libs/weights/src';
import { DisconnectGrace } from './disconnect-grace';
import { RoundStateMachine } from './round-state';
import { RoundStep } from './run-schedule';

/** An update that passed the gate, waiting in the blob store for the round to close. */
export interface StoredUpdate {
  entry: UpdateEntry;
  digest: string;
  updateId: number;
}

/**
 * Everything the coordinator holds in memory for one attempt of one round: the pure state
 * machine plus what arrived. Lives only while the attempt is open; the store has the durable copy.
 */
export class ActiveRound {
  readonly updates = new Map<string, StoredUpdate>();
  readonly evaluations = new Map<string, EvalResultBody>();
  /** siteId → task id of this attempt. */
  readonly tasks = new Map<string, string>();
  private waker: (() => void) | undefined;

  constructor(
    readonly runId: string,
    readonly step: RoundStep,
    readonly machine: RoundStateMachine,
    readonly globalDigest: string,
    readonly globalLayout: readonly ArrayLayout[],
    readonly config: TaskConfigDto,
    readonly strategy: Strategy,
    /** Absent for the evaluation stage, which receives no weights. */
    readonly gate: UpdateGate | undefined,
    /** This attempt's number across coordinator restarts (task ids and `tasks.attempts` use it). */
    readonly storedAttempt: number,
    /** Sites of this attempt that disconnected and may still reconnect with their task. */
    readonly grace: DisconnectGrace,
  ) {}

  /** Resolves at the next event (answer, drop, stop) or after `ms`, whichever comes first. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        if (this.waker === done) this.waker = undefined;
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.waker = done;
    });
  }

  wake(): void {
    this.waker?.();
  }
}
