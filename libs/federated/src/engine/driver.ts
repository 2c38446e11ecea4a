import type { EngineCommand } from './commands';
import { engineStep, EngineStep, initialState, Refusal, RunSpec } from './engine';
import type { EngineEvent } from './events';
import type { EngineState } from './state';

/** Commands whose answer comes back as an event: started in order, never awaited by the queue. */
export type RequestCommand = Extract<
  EngineCommand,
  { kind: 'send-task' | 'aggregate' | 'restore-strategy' | 'build-local-models' | 'secagg-close' }
>;
/** Commands the driver runs to completion, one after the other, before the next step's. */
export type RecordCommand = Exclude<EngineCommand, RequestCommand | { kind: 'wake-at' }>;

const REQUEST_KINDS: ReadonlySet<string> = new Set([
  'send-task',
  'aggregate',
  'restore-strategy',
  'build-local-models',
  'secagg-close',
]);

export function isRequest(command: EngineCommand): command is RequestCommand {
  return REQUEST_KINDS.has(command.kind);
}

/** The outside world of one run, as the driver sees it. The coordinator and a simulator each implement it. */
export interface RunPorts {
  /** Persist, store, audit, log, end the run. Awaited: the next command waits for it. */
  record(command: RecordCommand): Promise<void> | void;
  /**
   * Start a request and return; call `answer` with its event when it is done (task-delivered,
   * aggregation-finished, …). Never throw: a failure is an answer too (task-failed, …).
   */
  request(command: RequestCommand, answer: (event: EngineEvent) => void): void;
  /** A record command threw: the run cannot go on safely (the adapter ends it). */
  crashed(error: unknown): void;
}

/** Time for the driver: the coordinator's is `Date.now` + setTimeout, a simulator's is virtual. */
export interface DriverClock {
  now(): number;
  /** Call `tick` at `atMs` (replacing any earlier wake-up); undefined cancels. */
  wakeAt(atMs: number | undefined, tick: () => void): void;
}

/**
 * Drives one run's engine: feeds events in the order they come, executes each step's commands in
 * order (record commands awaited, requests started), keeps the one wake-up the engine asked for.
 * Everything about the run's rules is in `step`; this class only owns order and time.
 */
export class RunDriver {
  private current: EngineState;
  private queue: Promise<void> = Promise.resolve();
  /** Halted or crashed: no more events, requests or wake-ups. */
  private dead = false;
  /** A record command threw: nothing more is recorded either. */
  private crashed = false;

  constructor(
    readonly spec: RunSpec,
    private readonly ports: RunPorts,
    private readonly clock: DriverClock,
  ) {
    this.current = initialState(spec.runId);
  }

  get state(): EngineState {
    return this.current;
  }

  get ended(): boolean {
    return this.current.phase === 'ended' || this.dead;
  }

  /**
   * Steps the engine with `event` now, and resolves once that step's commands have run (so an
   * ack sent after it tells the site its update is stored), with the refusal if any.
   */
  feed(event: EngineEvent): Promise<{ refusal?: Refusal }> {
    if (this.dead) return Promise.resolve({ refusal: { code: 'WRONG_RUN', reason: 'the run has ended' } });
    const result: EngineStep = engineStep(this.spec, this.current, event, this.clock.now());
    this.current = result.state;
    if (result.state.phase === 'ended') this.clock.wakeAt(undefined, () => {});
    const done = this.queue.then(() => this.execute(result.commands));
    this.queue = done.catch(() => undefined);
    return done.then(() => (result.refusal ? { refusal: result.refusal } : {}));
  }

  /**
   * Stops driving (the process shuts down, the run stays where the store has it): later events
   * are ignored, no wake-up fires. Commands already queued still run; `drained` says when.
   */
  halt(): void {
    this.dead = true;
    this.clock.wakeAt(undefined, () => {});
  }

  /** Resolves when every command fed so far has run (requests started, not answered). */
  drained(): Promise<void> {
    return this.queue;
  }

  private async execute(commands: readonly EngineCommand[]): Promise<void> {
    for (const command of commands) {
      if (this.crashed) return;
      if (command.kind === 'wake-at') {
        if (this.dead) continue;
        this.clock.wakeAt(command.atMs, () => void this.feed({ type: 'tick' }));
      } else if (isRequest(command)) {
        if (this.dead) continue;
        this.ports.request(command, (event) => void this.feed(event));
      } else {
        try {
          await this.ports.record(command);
        } catch (err) {
          this.dead = true;
          this.crashed = true;
          this.clock.wakeAt(undefined, () => {});
          this.ports.crashed(err);
          throw err;
        }
      }
    }
  }
}
