import { createStrategy } from '../strategies/registry';
import type { EngineCommand } from './commands';
import { DriverClock, RecordCommand, RequestCommand, RunDriver, RunPorts } from './driver';
import type { EngineEvent } from './events';

/** The driver with in-memory ports and a virtual clock: the shape an in-process simulator takes. */
describe('RunDriver', () => {
  const INITIAL = 'a'.repeat(128);
  const plan = {
    stages: {
      ssl: {
        rounds: 1,
        localEpochs: 1,
        batchSize: 2,
        optimiser: { name: 'sgd' as const, lr: 0.01 },
        maskRatio: 0.5,
      },
    },
    quorum: { minSites: 2 },
    roundDeadlineSeconds: 60,
    encoding: 'float32' as const,
    evaluation: { final: false },
    initialModel: INITIAL,
    seed: 1,
  };

  class VirtualClock implements DriverClock {
    t = Date.UTC(2026, 0, 1);
    wake?: { atMs: number; tick: () => void };
    now(): number {
      return this.t;
    }
    wakeAt(atMs: number | undefined, tick: () => void): void {
      this.wake = atMs === undefined ? undefined : { atMs, tick };
    }
  }

  function harness(answerRequest: (command: RequestCommand, answer: (e: EngineEvent) => void) => void) {
    const recorded: RecordCommand[] = [];
    const requests: RequestCommand[] = [];
    const crashes: unknown[] = [];
    const ports: RunPorts = {
      record: async (command) => {
        await Promise.resolve();
        recorded.push(command);
      },
      request: (command, answer) => {
        requests.push(command);
        answerRequest(command, answer);
      },
      crashed: (err) => crashes.push(err),
    };
    const clock = new VirtualClock();
    const driver = new RunDriver(
      { runId: 'run-1', plan, strategy: createStrategy({ name: 'fedavg' }) },
      ports,
      clock,
    );
    return { driver, clock, recorded, requests, crashes };
  }

  it('records in order, starts requests, and resolves a feed once its commands ran', async () => {
    const { driver, recorded, requests } = harness((command, answer) => {
      if (command.kind === 'send-task')
        setImmediate(() =>
          answer({ type: 'task-delivered', siteId: command.siteId, taskId: command.task.taskId }),
        );
    });
    await driver.feed({
      type: 'run-started',
      linkedSites: ['site-a', 'site-b'],
      recordedRounds: [],
      initialModelBytes: 10,
    });
    expect(recorded.map((c) => c.kind)).toEqual(['insert-round', 'insert-task', 'insert-task']);
    expect(requests.map((c) => c.kind)).toEqual(['send-task', 'send-task']);
    await new Promise((resolve) => setImmediate(resolve));
    await driver.drained();
    expect(recorded.filter((c: EngineCommand) => c.kind === 'set-task-state')).toHaveLength(2);
  });

  it('turns the wake-up it was asked for into a tick at that time', async () => {
    const { driver, clock, recorded } = harness(() => {});
    await driver.feed({
      type: 'run-started',
      linkedSites: ['site-a', 'site-b'],
      recordedRounds: [],
      initialModelBytes: 10,
    });
    expect(clock.wake?.atMs).toBe(clock.t + 60_000);
    clock.t = clock.wake!.atMs;
    clock.wake!.tick();
    await driver.drained();
    expect(recorded.at(-1)).toMatchObject({ kind: 'end-run', outcome: 'fail' });
    expect(driver.ended).toBe(true);
    expect(clock.wake).toBeUndefined();
  });

  it('stops at the first record that throws and says so', async () => {
    const { driver, crashes } = harness(() => {});
    const failing = new RunDriver(
      driver.spec,
      {
        record: () => {
          throw new Error('disk full');
        },
        request: () => {},
        crashed: (e) => crashes.push(e),
      },
      new VirtualClock(),
    );
    await expect(
      failing.feed({
        type: 'run-started',
        linkedSites: ['site-a', 'site-b'],
        recordedRounds: [],
        initialModelBytes: 10,
      }),
    ).rejects.toThrow('disk full');
    expect(crashes).toHaveLength(1);
    expect(failing.ended).toBe(true);
    expect(await failing.feed({ type: 'tick' })).toEqual({
      refusal: { code: 'WRONG_RUN', reason: 'the run has ended' },
    });
  });
});
