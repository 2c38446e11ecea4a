import type { EvalResultBody } from '../../../protocol/src';
import { createStrategy, StrategySpec } from '../strategies/registry';
import type { UpdateEntry } from '../types';
import type { EngineCommand } from './commands';
import { engineStep, EngineStep, initialState, openTaskOf, RunSpec } from './engine';
import type { EngineEvent, RecordedRound } from './events';
import type { EnginePlan } from './plan';
import {
  CROSS_SITE_ROUND_BASE,
  LOCAL_ONLY_ROUND,
  PAIRED_EVALUATION_ROUND,
  TOKEN_CENTRING_ROUND,
} from './schedule';
import type { EngineState } from './state';

/** The engine is scripted: events in, commands read. No sockets, no timers, no store. */

const T0 = Date.UTC(2026, 0, 1);
const INITIAL = 'a'.repeat(128);
const D1 = '1'.repeat(128);
const D2 = '2'.repeat(128);
const stage = { rounds: 1, localEpochs: 1, batchSize: 2, optimiser: { name: 'sgd' as const, lr: 0.01 } };

function plan(overrides: Partial<EnginePlan> = {}): EnginePlan {
  return {
    stages: { ssl: { ...stage, maskRatio: 0.5 } },
    quorum: { minSites: 2 },
    roundDeadlineSeconds: 60,
    encoding: 'float32',
    evaluation: { final: false },
    initialModel: INITIAL,
    seed: 1,
    ...overrides,
  };
}

/** A run under test: its state, the clock, and every command so far. */
class Script {
  state: EngineState = initialState('run-1');
  now = T0;
  readonly spec: RunSpec;
  last!: EngineStep;

  constructor(planned: EnginePlan, strategy: StrategySpec = { name: 'fedavg' }, graceMs = 5_000) {
    this.spec = {
      runId: 'run-1',
      plan: planned,
      strategy: createStrategy(strategy),
      disconnectGraceMs: graceMs,
    };
  }

  feed(event: EngineEvent, atMs = this.now): EngineCommand[] {
    this.now = atMs;
    this.last = engineStep(this.spec, this.state, event, this.now);
    this.state = this.last.state;
    return this.last.commands;
  }

  start(linked: string[], recordedRounds: RecordedRound[] = []): EngineCommand[] {
    return this.feed({ type: 'run-started', linkedSites: linked, recordedRounds, initialModelBytes: 1000 });
  }

  /** Delivers every task just sent and returns them by site. */
  deliver(commands: EngineCommand[]): Map<string, Extract<EngineCommand, { kind: 'send-task' }>> {
    const sent = new Map(sends(commands).map((c) => [c.siteId, c]));
    for (const [siteId, c] of sent) this.feed({ type: 'task-delivered', siteId, taskId: c.task.taskId });
    return sent;
  }

  /** Runs the token-centring round that opens the fine-tune stage: every site answers, its output is `digest`. */
  centre(commands: EngineCommand[], digest: string): EngineCommand[] {
    const sent = this.deliver(commands);
    expect([...sent.values()].every((c) => c.task.round === TOKEN_CENTRING_ROUND)).toBe(true);
    for (const siteId of sent.keys()) this.update(siteId);
    return this.feed({
      type: 'aggregation-finished',
      outputDigest: digest,
      outputBytes: 1,
      sites: [...sent.keys()],
    });
  }

  update(siteId: string, deltaNorm = 1, digest = siteId.padEnd(128, '0')): EngineCommand[] {
    const taskId = openTaskOf(this.state, siteId)!.taskId;
    return this.feed({
      type: 'update-received',
      siteId,
      taskId,
      update: { digest, signature: 'sig', bytes: 10, nSamples: 4, encoding: 'float32' },
      entry: entry(siteId, deltaNorm),
    });
  }
}

function entry(siteId: string, deltaNorm = 1): UpdateEntry {
  return { siteId, kind: 'delta', numSamples: 4, deltaNorm, metrics: { loss: 1 } };
}

function sends(commands: EngineCommand[]) {
  return commands.filter((c): c is Extract<EngineCommand, { kind: 'send-task' }> => c.kind === 'send-task');
}

function only<K extends EngineCommand['kind']>(commands: EngineCommand[], kind: K) {
  return commands.filter((c): c is Extract<EngineCommand, { kind: K }> => c.kind === kind);
}

function evaluation(modelDigest: string): EvalResultBody {
  return {
    sender: 'x',
    nonce: 'n'.repeat(16),
    timestamp: T0,
    runId: 'run-1',
    round: 0,
    taskId: 't',
    stage: 'evaluate',
    modelDigest,
    nPositive: 2,
    nNegative: 2,
    histogram: { bins: 2, positive: [0, 2], negative: [2, 0] },
  } as EvalResultBody;
}

describe('round engine: quorum, deadline, retries', () => {
  it('waits for a quorum of linked sites, then sends each the strategy instruction and folds in site order', () => {
    const run = new Script(plan());
    expect(sends(run.start(['site-b']))).toHaveLength(0);
    expect(only(run.last.commands, 'wake-at')).toEqual([{ kind: 'wake-at', atMs: T0 + 60_000 }]);
    const commands = run.feed({ type: 'site-linked', siteId: 'site-a' });
    expect(only(commands, 'insert-round')[0].round).toMatchObject({
      stage: 'ssl',
      round: 0,
      inputDigest: INITIAL,
    });
    const sent = sends(commands);
    expect(sent.map((c) => c.siteId)).toEqual(['site-a', 'site-b']);
    expect(sent[0].task.instruction).toEqual({
      parts: ['encoder', 'decoder'],
      updateKind: 'delta',
      optimiser: { name: 'sgd' },
    });
    expect(sent[0].task).toMatchObject({ globalWeightsDigest: INITIAL, deadline: T0 + 60_000 });
    expect(sent[0].task.config.maxUpdateBytes).toBe(1024 * 1024);

    run.deliver(commands);
    expect(only(run.last.commands, 'update-round').map((c) => c.changes.state)).toEqual(['collecting']);
    run.update('site-b');
    expect(only(run.last.commands, 'store-update')[0].update).toMatchObject({
      siteId: 'site-b',
      status: 'accepted',
    });
    const closing = run.update('site-a');
    const aggregate = only(closing, 'aggregate')[0];
    expect(aggregate).toMatchObject({ what: 'fit', globalDigest: INITIAL });
    expect(aggregate.what === 'fit' && aggregate.updates.map((u) => u.siteId)).toEqual(['site-a', 'site-b']);

    const done = run.feed({
      type: 'aggregation-finished',
      outputDigest: D1,
      outputBytes: 1000,
      sites: ['site-a', 'site-b'],
      metrics: { num_sites: 2 },
    });
    expect(only(done, 'set-update-status').map((c) => c.status)).toEqual(['aggregated', 'aggregated']);
    // The fold's metrics, then each folded site's own (the dashboard's per-site loss).
    expect(only(done, 'record-metrics')[0].metrics.map((m) => [m.siteId, m.name, m.value])).toEqual([
      [undefined, 'train/num_sites', 2],
      ['site-a', 'train/loss', 1],
      ['site-b', 'train/loss', 1],
    ]);
    expect(only(done, 'update-round').at(-1)!.changes).toMatchObject({ state: 'done', outputDigest: D1 });
    expect(only(done, 'end-run')).toEqual([
      { kind: 'end-run', runId: 'run-1', outcome: 'complete', reason: undefined, finalDigest: D1 },
    ]);
  });

  it('closes at the deadline with the quorum; the site still waiting timed out', () => {
    const run = new Script(plan());
    run.deliver(run.start(['site-a', 'site-b', 'site-c']));
    run.update('site-a');
    run.update('site-b');
    const taskC = openTaskOf(run.state, 'site-c')!.taskId;
    const commands = run.feed({ type: 'tick' }, T0 + 60_000);
    expect(only(commands, 'set-task-state')).toEqual([
      { kind: 'set-task-state', taskId: taskC, state: 'timed-out' },
    ]);
    expect(only(commands, 'aggregate')).toHaveLength(1);
  });

  it('retries without a quorum, with fresh task ids, then fails when no attempts are left', () => {
    const run = new Script(plan({ maxRetries: 1 }));
    const first = run.deliver(run.start(['site-a', 'site-b']));
    run.update('site-a');
    const retry = run.feed({ type: 'tick' }, T0 + 60_000);
    expect(only(retry, 'update-round')[0].changes).toMatchObject({ state: 'dispatched' });
    expect(only(retry, 'update-round')[0].changes.reason).toMatch(
      /^retry 2: quorum not reached: 1 valid answer/,
    );
    expect(only(retry, 'audit')[0].entry).toMatchObject({ action: 'rounds.retry', detail: { attempt: 1 } });
    const second = sends(retry);
    expect(second.map((c) => c.siteId)).toEqual(['site-a', 'site-b']);
    expect(second[0].task.taskId).not.toBe(first.get('site-a')!.task.taskId);
    expect(only(retry, 'insert-task')[0].task.attempts).toBe(2);
    // A late answer to the first attempt is refused.
    run.feed({
      type: 'update-received',
      siteId: 'site-b',
      taskId: first.get('site-b')!.task.taskId,
      update: { digest: D2, signature: 's', bytes: 1, nSamples: 1, encoding: 'float32' },
      entry: entry('site-b'),
    });
    expect(run.last.refusal?.code).toBe('WRONG_TASK');

    run.deliver(retry);
    const failed = run.feed({ type: 'tick' }, T0 + 120_000);
    expect(only(failed, 'update-round').at(-1)!.changes).toMatchObject({ state: 'failed' });
    expect(only(failed, 'end-run')[0]).toMatchObject({ outcome: 'fail' });
    expect(only(failed, 'end-run')[0].reason).toMatch(
      /^ssl round 0: quorum not reached: 0 valid .*no attempts left \(2\)$/,
    );
  });

  it('decides at once when the quorum can no longer be reached (declined, undeliverable)', () => {
    const run = new Script(plan());
    const sent = sends(run.start(['site-a', 'site-b', 'site-c']));
    run.feed({ type: 'task-failed', siteId: 'site-a', taskId: sent[0].task.taskId, reason: 'not connected' });
    expect(only(run.last.commands, 'set-task-state')[0].state).toBe('rejected');
    run.feed({
      type: 'task-acked',
      siteId: 'site-b',
      taskId: sent[1].task.taskId,
      accepted: false,
      reason: 'no data',
    });
    expect(only(run.last.commands, 'end-run')[0].reason).toMatch(
      /quorum not reached: 0 valid answer\(s\) of 2 needed \(3 selected, 2 dropped\)/,
    );
  });

  it('refuses duplicate, late and out-of-stage answers; records a gate refusal and drops the site', () => {
    const run = new Script(plan());
    run.deliver(run.start(['site-a', 'site-b', 'site-c']));
    run.update('site-a');
    run.update('site-a');
    expect(run.last.refusal).toMatchObject({ code: 'WRONG_TASK' });
    expect(run.last.commands.filter((c) => c.kind === 'store-update')).toHaveLength(0);

    const taskB = openTaskOf(run.state, 'site-b')!.taskId;
    run.feed({
      type: 'update-refused',
      siteId: 'site-b',
      taskId: taskB,
      update: { digest: D2, signature: 's', bytes: 1, nSamples: 1, encoding: 'float32' },
      code: 'NON_FINITE',
      reason: 'NaN in encoder/w',
    });
    expect(run.last.refusal).toEqual({
      code: 'MALFORMED',
      reason: 'NON_FINITE: NaN in encoder/w',
      checkCode: 'NON_FINITE',
    });
    expect(only(run.last.commands, 'store-update')[0].update).toMatchObject({
      status: 'rejected',
      rejectReason: 'NON_FINITE: NaN in encoder/w',
    });
    expect(only(run.last.commands, 'set-task-state')).toEqual([
      { kind: 'set-task-state', taskId: taskB, state: 'rejected' },
    ]);

    run.feed({
      type: 'evaluation-received',
      siteId: 'site-c',
      taskId: openTaskOf(run.state, 'site-c')!.taskId,
      result: evaluation(INITIAL),
    });
    expect(run.last.refusal?.code).toBe('WRONG_STAGE');
    run.update('site-c');
    expect(openTaskOf(run.state, 'site-a')).toMatchObject({ collecting: false });
    run.update('site-c');
    expect(run.last.refusal?.code).toBe('WRONG_ROUND');
  });

  it('screens the round: an update far off the median is refused, and too few survivors fail the round', () => {
    const run = new Script(plan({ quorum: { minSites: 3 } }));
    run.deliver(run.start(['site-a', 'site-b', 'site-c']));
    run.update('site-a', 1);
    run.update('site-b', 1.1);
    const commands = run.update('site-c', 1000);
    expect(only(commands, 'set-update-status')[0]).toMatchObject({ status: 'rejected' });
    expect(only(commands, 'audit')[0].entry).toMatchObject({
      action: 'update.rejected',
      actor: 'site:site-c',
      refusal: true,
    });
    expect(only(commands, 'end-run')[0].reason).toBe(
      'ssl round 0: 2 update(s) survived the round checks, 3 needed',
    );
  });

  it('stops where it is: the open round fails, tasks still waiting time out, nothing more is sent', () => {
    const run = new Script(plan());
    run.deliver(run.start(['site-a', 'site-b']));
    run.update('site-a');
    const commands = run.feed({ type: 'stop' });
    expect(only(commands, 'set-task-state').map((c) => c.state)).toEqual(['timed-out']);
    expect(only(commands, 'update-round')[0].changes).toMatchObject({
      state: 'failed',
      reason: 'the run was stopped',
    });
    expect(only(commands, 'end-run')).toHaveLength(0);
    run.feed({ type: 'site-linked', siteId: 'site-c' });
    expect(run.last.commands).toEqual([]);
  });

  it('fails the run when the initial model is missing, once sites are there', () => {
    const run = new Script(plan());
    const commands = run.feed({ type: 'run-started', linkedSites: ['site-a', 'site-b'], recordedRounds: [] });
    expect(only(commands, 'end-run')[0].reason).toMatch(
      /^initialModel aaaaaaaaaaaaaaaa… is not in the blob store$/,
    );
  });
});

describe('round engine: instructions', () => {
  it("signs the strategy's instruction into each task: FedBN's keep-local pattern, FedProx's μ, the plan's optimiser", () => {
    const fedbn = new Script(
      plan({
        stages: {
          ssl: { ...stage, maskRatio: 0.5, optimiser: { name: 'adam', lr: 0.01, weightDecay: 0.05 } },
        },
      }),
      { name: 'fedbn' },
    );
    expect(sends(fedbn.start(['site-a', 'site-b']))[0].task.instruction).toEqual({
      parts: ['encoder', 'decoder'],
      keepLocalPattern: '\\/(?:norm|ln|grn)',
      updateKind: 'delta',
      optimiser: { name: 'adam', weightDecay: 0.05 },
    });
    const fedprox = new Script(plan({ stages: { finetune: stage } }), { name: 'fedprox', mu: 0.1 });
    const task = sends(fedprox.centre(fedprox.start(['site-a', 'site-b']), D1))[0].task;
    expect(task.instruction).toMatchObject({ parts: ['encoder', 'head'], proximalMu: 0.1 });
    expect(task.config.proximalMu).toBe(0.1);
  });

  it('tells an evaluating site only what to keep local', () => {
    const run = new Script(plan({ stages: {}, evaluation: { final: true } }), { name: 'fedbn' });
    expect(sends(run.start(['site-a', 'site-b']))[0].task.instruction).toEqual({
      keepLocalPattern: '\\/(?:norm|ln|grn)',
    });
  });
});

describe('round engine: disconnect grace', () => {
  const left = (graceMs = 5_000) => {
    const run = new Script(plan({ quorum: { minSites: 3 } }), { name: 'fedavg' }, graceMs);
    run.deliver(run.start(['site-a', 'site-b', 'site-c']));
    run.update('site-a');
    run.update('site-b');
    run.feed({ type: 'site-left', siteId: 'site-c' }, T0 + 1_000);
    return run;
  };

  it('keeps the task of a site that reconnects holding it: its update closes the round', () => {
    const run = left();
    expect(only(run.last.commands, 'wake-at')).toEqual([{ kind: 'wake-at', atMs: T0 + 6_000 }]);
    const taskC = openTaskOf(run.state, 'site-c')!.taskId;
    run.feed({ type: 'site-linked', siteId: 'site-c' });
    const kept = run.feed(
      { type: 'site-status', siteId: 'site-c', state: 'training', taskId: taskC },
      T0 + 2_000,
    );
    expect(only(kept, 'wake-at')).toEqual([{ kind: 'wake-at', atMs: T0 + 60_000 }]);
    expect(run.feed({ type: 'tick' }, T0 + 6_000)).toEqual([]);
    expect(only(run.update('site-c'), 'aggregate')).toHaveLength(1);
  });

  it('drops at once a site that comes back idle (a restarted agent)', () => {
    const run = left();
    run.feed({ type: 'site-status', siteId: 'site-c', state: 'idle' }, T0 + 2_000);
    expect(only(run.last.commands, 'set-task-state')[0].state).toBe('timed-out');
    expect(only(run.last.commands, 'end-run')[0].reason).toMatch(/quorum not reached/);
  });

  it('drops a site that never comes back when its grace ends, long before the deadline', () => {
    const run = left();
    expect(run.feed({ type: 'tick' }, T0 + 5_999).filter((c) => c.kind !== 'wake-at')).toEqual([]);
    const commands = run.feed({ type: 'tick' }, T0 + 6_000);
    expect(only(commands, 'log').some((c) => c.fields.reason === 'disconnected')).toBe(true);
    expect(only(commands, 'end-run')).toHaveLength(1);
  });

  it('never lets a grace outlast the deadline', () => {
    const run = left(600_000);
    expect(only(run.last.commands, 'wake-at')).toEqual([]); // the deadline is already the next wake-up
    expect(run.state.round!.attempt!.sites['site-c'].graceUntil).toBe(T0 + 60_000);
  });
});

describe('round engine: federated token centring', () => {
  const twoStages = plan({ stages: { ssl: { ...stage, maskRatio: 0.5 }, finetune: stage } });

  it("opens the fine-tune stage with a centring round at every site, folded without the strategy into round 0's global", () => {
    const run = new Script(plan({ stages: { finetune: stage } }), { name: 'fedadam' });
    const commands = run.start(['site-a', 'site-b']);
    expect(only(commands, 'insert-round')[0].round).toMatchObject({
      stage: 'finetune',
      round: TOKEN_CENTRING_ROUND,
      inputDigest: INITIAL,
    });
    const sent = sends(commands);
    expect(sent.map((c) => c.siteId)).toEqual(['site-a', 'site-b']);
    const { config, instruction } = sent[0].task;
    expect(config).toMatchObject({ tokenCentring: true, updateEncoding: 'float32' });
    // It trains nothing: no optimiser, schedule or moments to keep.
    for (const field of ['optimiser', 'scheduleStartEpoch', 'keepOptimiserState', 'freezeEncoderEpochs'])
      expect(config).not.toHaveProperty(field);
    expect(instruction).toEqual({ parts: ['encoder', 'head'], updateKind: 'delta' });

    run.deliver(commands);
    run.update('site-a');
    run.update('site-b');
    const fold = only(run.last.commands, 'aggregate')[0];
    expect(fold).toMatchObject({
      what: 'token-centre',
      step: { stage: 'finetune', round: TOKEN_CENTRING_ROUND },
    });

    const next = run.feed({
      type: 'aggregation-finished',
      outputDigest: D1,
      outputBytes: 1,
      sites: ['site-a', 'site-b'],
    });
    const round0 = sends(next);
    expect(round0.map((c) => [c.task.round, c.task.globalWeightsDigest])).toEqual([
      [0, D1],
      [0, D1],
    ]);
    expect(round0[0].task.config).not.toHaveProperty('tokenCentring');
    expect(round0[0].task.config).toMatchObject({ keepOptimiserState: true, scheduleStartEpoch: 0 });
    run.deliver(next);
    run.update('site-a');
    run.update('site-b');
    expect(only(run.last.commands, 'aggregate')[0].what).toBe('fit');
  });

  it('skips a done centring round after a restart, and resumes the strategy from the last strategy fold', () => {
    const recorded: RecordedRound[] = [
      { stage: 'ssl', round: 0, state: 'done', outputDigest: D2, outputBytes: 5, lastAttempt: 1 },
      {
        stage: 'finetune',
        round: TOKEN_CENTRING_ROUND,
        state: 'done',
        outputDigest: D1,
        outputBytes: 5,
        lastAttempt: 1,
      },
    ];
    const run = new Script(twoStages, { name: 'fedadam' });
    expect(only(run.start(['site-a', 'site-b'], recorded), 'restore-strategy')).toEqual([
      { kind: 'restore-strategy', runId: 'run-1', lastDone: { stage: 'ssl', round: 0 } },
    ]);
    const sent = sends(run.feed({ type: 'strategy-restored' }));
    expect(sent.map((c) => [c.task.stage, c.task.round, c.task.globalWeightsDigest])).toEqual([
      ['finetune', 0, D1],
      ['finetune', 0, D1],
    ]);

    // An unfinished centring round is run again, from the SSL stage's output.
    const again = new Script(twoStages);
    const resent = sends(
      again.start(
        ['site-a', 'site-b'],
        [recorded[0], { ...recorded[1], state: 'collecting', outputDigest: undefined }],
      ),
    );
    expect(
      resent.map((c) => [c.task.round, c.task.globalWeightsDigest, c.task.config.tokenCentring]),
    ).toEqual([
      [TOKEN_CENTRING_ROUND, D2, true],
      [TOKEN_CENTRING_ROUND, D2, true],
    ]);
  });
});

describe('round engine: resume, strategy state, evaluation', () => {
  const twoStages = plan({ stages: { ssl: { ...stage, maskRatio: 0.5 }, finetune: stage } });

  it('resumes at the first unfinished round, on the last done global, with task attempts after the stored ones', () => {
    const run = new Script(twoStages);
    const commands = run.start(
      ['site-a', 'site-b'],
      [
        { stage: 'ssl', round: 0, state: 'done', outputDigest: D2, outputBytes: 3_000_000, lastAttempt: 1 },
        {
          stage: 'finetune',
          round: TOKEN_CENTRING_ROUND,
          state: 'done',
          outputDigest: D1,
          outputBytes: 3_000_000,
          lastAttempt: 1,
        },
        { stage: 'finetune', round: 0, state: 'collecting', lastAttempt: 1 },
      ],
    );
    // The resumed round's update limit still derives from its model's size.
    expect(sends(commands)[0].task.config.maxUpdateBytes).toBe(6_000_000);
    expect(only(commands, 'insert-round')).toEqual([]);
    expect(only(commands, 'update-round')[0]).toMatchObject({
      stage: 'finetune',
      changes: { state: 'dispatched', reason: 'resumed after a coordinator restart' },
    });
    const sent = sends(commands);
    expect(sent.map((c) => [c.task.stage, c.task.globalWeightsDigest])).toEqual([
      ['finetune', D1],
      ['finetune', D1],
    ]);
    expect(only(commands, 'insert-task').map((c) => c.task.attempts)).toEqual([2, 2]);
    expect(sent[0].task.taskId).toMatch(/^finetune-0-2-/);
  });

  it('restores FedAdam state from the last done training round before training again', () => {
    const recorded: RecordedRound[] = [
      { stage: 'ssl', round: 0, state: 'done', outputDigest: D1, lastAttempt: 1 },
    ];
    const run = new Script(twoStages, { name: 'fedadam' });
    const commands = run.start(['site-a', 'site-b'], recorded);
    expect(commands.filter((c) => c.kind !== 'wake-at')).toEqual([
      { kind: 'restore-strategy', runId: 'run-1', lastDone: { stage: 'ssl', round: 0 } },
    ]);
    expect(sends(run.feed({ type: 'strategy-restored' }))).toHaveLength(2);

    const failing = new Script(twoStages, { name: 'fedadam' });
    failing.start(['site-a', 'site-b'], recorded);
    const failed = failing.feed({ type: 'strategy-restore-failed', reason: 'no saved fedadam server state' });
    expect(only(failed, 'end-run')[0].reason).toBe('cannot resume: no saved fedadam server state');

    // A fresh run and a stateless strategy restore nothing.
    expect(
      only(new Script(twoStages, { name: 'fedadam' }).start(['site-a', 'site-b']), 'restore-strategy'),
    ).toEqual([]);
    expect(only(new Script(twoStages).start(['site-a', 'site-b'], recorded), 'restore-strategy')).toEqual([]);
  });

  it('evaluates every k fine-tune rounds, at the end, then each local model at every site', () => {
    const run = new Script(
      plan({
        stages: { finetune: { ...stage, rounds: 2 } },
        evaluation: { final: true, everyKRounds: 1, crossSite: true },
      }),
    );
    const order: string[] = [];
    let commands = run.start(['site-a', 'site-b']);
    const answer = (digest: string): void => {
      const sent = run.deliver(commands);
      const stageOf = [...sent.values()][0].task;
      order.push(`${stageOf.stage}/${stageOf.round}`);
      for (const siteId of sent.keys()) {
        if (stageOf.stage === 'evaluate') {
          run.feed({
            type: 'evaluation-received',
            siteId,
            taskId: sent.get(siteId)!.task.taskId,
            result: evaluation(digest),
          });
        } else {
          run.update(siteId);
        }
      }
      expect(only(run.last.commands, 'aggregate')).toHaveLength(1);
    };
    commands = run.centre(commands, INITIAL.replace(/a/g, 'e'));
    answer(INITIAL);
    commands = run.feed({
      type: 'aggregation-finished',
      outputDigest: D1,
      outputBytes: 1,
      sites: ['site-a', 'site-b'],
    });
    answer(D1);
    commands = run.feed({ type: 'aggregation-finished', outputDigest: D1, outputBytes: 1 });
    answer(D1);
    commands = run.feed({
      type: 'aggregation-finished',
      outputDigest: D2,
      outputBytes: 1,
      sites: ['site-a', 'site-b'],
    });
    answer(D2);
    commands = run.feed({ type: 'aggregation-finished', outputDigest: D2, outputBytes: 1 });
    expect(commands.filter((c) => c.kind !== 'log' && c.kind !== 'update-round')).toEqual([
      { kind: 'build-local-models', runId: 'run-1', finetuneRounds: 2 },
    ]);
    const localA = 'c'.repeat(128);
    const localB = 'd'.repeat(128);
    commands = run.feed({
      type: 'local-models-built',
      models: [
        { siteId: 'site-b', finetuneRound: 1, digest: localB, bytes: 5, threshold: 0.37 },
        { siteId: 'site-a', finetuneRound: 1, digest: localA, bytes: 5 },
      ],
    });
    expect(sends(commands)[0].task.globalWeightsDigest).toBe(localA);
    // site-a reported no validation cut-off for its model: each site chooses on its own.
    expect(sends(commands)[0].task.config).not.toHaveProperty('evaluationThreshold');
    // An evaluation of another model than the one sent is refused.
    run.feed({
      type: 'evaluation-received',
      siteId: 'site-a',
      taskId: sends(commands)[0].task.taskId,
      result: evaluation(D2),
    });
    expect(run.last.refusal?.code).toBe('DIGEST_MISMATCH');
    answer(localA);
    const cross = only(run.last.commands, 'aggregate')[0];
    expect(cross).toMatchObject({
      what: 'evaluate',
      modelDigest: localA,
      modelOf: { siteId: 'site-a', finetuneRound: 1 },
    });
    commands = run.feed({ type: 'aggregation-finished', outputDigest: localA, outputBytes: 5 });
    // site-b's model travels with the cut-off site-b chose for it on its validation split.
    expect(sends(commands).map((c) => c.task.config.evaluationThreshold)).toEqual([0.37, 0.37]);
    answer(localB);
    const end = run.feed({ type: 'aggregation-finished', outputDigest: localB, outputBytes: 5 });
    expect(only(end, 'end-run')[0]).toMatchObject({ outcome: 'complete', finalDigest: D2 });
    expect(order).toEqual([
      'finetune/0',
      'evaluate/1',
      'finetune/1',
      'evaluate/0',
      `evaluate/${CROSS_SITE_ROUND_BASE}`,
      `evaluate/${CROSS_SITE_ROUND_BASE + 1}`,
    ]);
  });

  it('names the cross-site round that failed', () => {
    const run = new Script(
      plan({ stages: { finetune: stage }, evaluation: { final: false, crossSite: true } }),
    );
    run.deliver(run.centre(run.start(['site-a', 'site-b']), D2));
    run.update('site-a');
    run.update('site-b');
    run.feed({ type: 'aggregation-finished', outputDigest: D1, outputBytes: 1, sites: ['site-a', 'site-b'] });
    run.feed({
      type: 'local-models-built',
      models: [{ siteId: 'site-a', finetuneRound: 0, digest: D2, bytes: 1 }],
    });
    run.deliver(run.last.commands);
    const commands = run.feed({ type: 'tick' }, run.now + 60_000);
    expect(only(commands, 'end-run')[0].reason).toMatch(
      /^cross-site evaluation of site-a's model \(evaluate round 10000\): quorum not reached/,
    );
  });

  describe('local-only models for the cross-site matrix', () => {
    const localOnlyPlan = plan({
      stages: { finetune: { ...stage, rounds: 2, localEpochs: 3 } },
      evaluation: { final: true, crossSite: true, crossSiteModels: 'local-only' },
    });
    const notLogs = (commands: EngineCommand[]) =>
      commands.filter((c) => c.kind !== 'log' && c.kind !== 'update-round' && c.kind !== 'wake-at');

    /** Centring, two fine-tune rounds and the final evaluation: returns the commands that follow. */
    function federate(run: Script): EngineCommand[] {
      let commands = run.centre(run.start(['site-a', 'site-b']), D1);
      for (const output of [D1, D2]) {
        run.deliver(commands);
        run.update('site-a');
        run.update('site-b');
        commands = run.feed({
          type: 'aggregation-finished',
          outputDigest: output,
          outputBytes: 1,
          sites: ['site-a', 'site-b'],
        });
      }
      const sent = run.deliver(commands);
      for (const [siteId, c] of sent)
        run.feed({ type: 'evaluation-received', siteId, taskId: c.task.taskId, result: evaluation(D2) });
      return run.feed({ type: 'aggregation-finished', outputDigest: D2, outputBytes: 1 });
    }

    it("trains each site's own model from the initial model with the whole budget, folds none, then evaluates each at every site", () => {
      const run = new Script(localOnlyPlan);
      const commands = federate(run);
      // After the final evaluation: one task per site, from the initial model, whole budget.
      const sent = run.deliver(commands);
      expect([...sent.keys()]).toEqual(['site-a', 'site-b']);
      for (const c of sent.values()) {
        expect(c.task).toMatchObject({
          stage: 'finetune',
          round: LOCAL_ONLY_ROUND,
          globalWeightsDigest: INITIAL,
        });
        expect(c.task.config).toMatchObject({
          localOnly: true,
          localEpochs: 6,
          scheduleStartEpoch: 0,
          scheduleTotalEpochs: 6,
          keepOptimiserState: false,
        });
        // The two fine-tune rounds' training in one task: their two deadlines (60 s each).
        expect(c.task.deadline).toBe(run.now + 2 * 60_000);
      }
      run.update('site-a', 1, 'c'.repeat(128));
      expect(only(run.last.commands, 'store-update')[0].update).toMatchObject({
        round: LOCAL_ONLY_ROUND,
        status: 'accepted',
      });
      const taskB = sent.get('site-b')!.task.taskId;
      const after = run.feed({
        type: 'update-received',
        siteId: 'site-b',
        taskId: taskB,
        update: { digest: 'd'.repeat(128), signature: 'sig', bytes: 10, nSamples: 4, encoding: 'float32' },
        entry: { ...entry('site-b'), metrics: { loss: 0.5, val_threshold: 0.4 } },
      });
      // No fold, no update marked aggregated, the global untouched: the sites' own metrics, then the build.
      expect(only(after, 'aggregate')).toEqual([]);
      expect(only(after, 'set-update-status')).toEqual([]);
      expect(
        only(after, 'record-metrics')[0].metrics.map((m) => [m.siteId, m.round, m.name, m.value]),
      ).toEqual([
        ['site-a', LOCAL_ONLY_ROUND, 'train/loss', 1],
        ['site-b', LOCAL_ONLY_ROUND, 'train/loss', 0.5],
        ['site-b', LOCAL_ONLY_ROUND, 'train/val_threshold', 0.4],
      ]);
      expect(only(after, 'update-round').map((c) => c.changes.state)).toEqual(['done']);
      expect(only(after, 'update-round')[0].changes).not.toHaveProperty('outputDigest');
      expect(only(after, 'build-local-models')).toEqual([
        { kind: 'build-local-models', runId: 'run-1', finetuneRounds: 2, localOnlyRound: LOCAL_ONLY_ROUND },
      ]);
      expect(run.state.global).toBe(D2);
      const localA = 'e'.repeat(128);
      const localB = 'f'.repeat(128);
      let next = run.feed({
        type: 'local-models-built',
        models: [
          { siteId: 'site-a', finetuneRound: LOCAL_ONLY_ROUND, digest: localA, bytes: 5 },
          { siteId: 'site-b', finetuneRound: LOCAL_ONLY_ROUND, digest: localB, bytes: 5, threshold: 0.4 },
        ],
      });
      for (const [owner, digest] of [
        ['site-a', localA],
        ['site-b', localB],
      ] as const) {
        const evaluations = run.deliver(next);
        expect([...evaluations.values()].map((c) => c.task.globalWeightsDigest)).toEqual([digest, digest]);
        for (const [siteId, c] of evaluations)
          run.feed({
            type: 'evaluation-received',
            siteId,
            taskId: c.task.taskId,
            result: evaluation(digest),
          });
        expect(only(run.last.commands, 'aggregate')[0]).toMatchObject({
          what: 'evaluate',
          modelOf: { siteId: owner, finetuneRound: LOCAL_ONLY_ROUND },
        });
        next = run.feed({ type: 'aggregation-finished', outputDigest: digest, outputBytes: 5 });
      }
      // The run's model is the federation's, not a local one.
      expect(only(next, 'end-run')[0]).toMatchObject({ outcome: 'complete', finalDigest: D2 });
    });

    it('a restarted coordinator finds the local-only round done without taking it for the global, or resumes it from the initial model', () => {
      const recorded = (state: 'done' | 'collecting'): RecordedRound[] => [
        {
          stage: 'finetune',
          round: TOKEN_CENTRING_ROUND,
          state: 'done',
          outputDigest: D1,
          outputBytes: 1,
          lastAttempt: 1,
        },
        { stage: 'finetune', round: 0, state: 'done', outputDigest: D1, outputBytes: 1, lastAttempt: 1 },
        { stage: 'finetune', round: 1, state: 'done', outputDigest: D2, outputBytes: 1, lastAttempt: 1 },
        { stage: 'evaluate', round: 0, state: 'done', outputDigest: D2, outputBytes: 1, lastAttempt: 1 },
        { stage: 'finetune', round: LOCAL_ONLY_ROUND, state, lastAttempt: 1 },
      ];
      const done = new Script(localOnlyPlan, { name: 'fedadam' });
      expect(notLogs(done.start(['site-a', 'site-b'], recorded('done')))).toEqual([
        { kind: 'build-local-models', runId: 'run-1', finetuneRounds: 2, localOnlyRound: LOCAL_ONLY_ROUND },
      ]);
      expect(done.state.global).toBe(D2);
      const open = new Script(localOnlyPlan, { name: 'fedadam' });
      const resumed = open.start(['site-a', 'site-b'], recorded('collecting'));
      // No strategy state to restore for a round that folds nothing.
      expect(only(resumed, 'restore-strategy')).toEqual([]);
      expect(
        sends(resumed).map((c) => [c.task.round, c.task.globalWeightsDigest, c.task.taskId.split('-')[2]]),
      ).toEqual([
        [LOCAL_ONLY_ROUND, INITIAL, '2'],
        [LOCAL_ONLY_ROUND, INITIAL, '2'],
      ]);
    });

    it('names the local-only round that failed', () => {
      const run = new Script(localOnlyPlan);
      run.deliver(federate(run));
      run.update('site-a');
      // One round deadline is not the end: the task has two (it trains both fine-tune rounds).
      expect(only(run.feed({ type: 'tick' }, run.now + 60_000), 'end-run')).toEqual([]);
      const commands = run.feed({ type: 'tick' }, run.now + 60_000);
      expect(only(commands, 'end-run')[0].reason).toMatch(
        /^local-only training for the cross-site matrix \(finetune round 20000\): quorum not reached/,
      );
    });
  });
});

describe('round engine: paired evaluation (protocol 1.3)', () => {
  const CENTRAL = 'b'.repeat(128);
  const pair = (modelDigest: string) => ({
    modelDigest,
    aucA: 0.8,
    aucB: 0.7,
    varA: 0.01,
    varB: 0.01,
    covAB: 0.005,
    nPos: 2,
    nNeg: 2,
  });

  it('after the final evaluation, compares the final global with the named model at every site; only paired answers count', () => {
    const run = new Script(
      plan({ stages: { finetune: stage }, evaluation: { final: true, compareWith: [CENTRAL] } }),
    );
    run.deliver(run.centre(run.start(['site-a', 'site-b']), D2));
    run.update('site-a');
    run.update('site-b');
    const commands = run.feed({
      type: 'aggregation-finished',
      outputDigest: D1,
      outputBytes: 1,
      sites: ['site-a', 'site-b'],
    });
    // The final evaluation is an ordinary one: no compareWith, and paired aggregates are refused.
    const sent = run.deliver(commands);
    expect([...sent.values()].map((c) => [c.task.round, c.task.config.compareWith])).toEqual([
      [0, undefined],
      [0, undefined],
    ]);
    run.feed({
      type: 'evaluation-received',
      siteId: 'site-a',
      taskId: sent.get('site-a')!.task.taskId,
      result: { ...evaluation(D1), paired: [pair(CENTRAL)] } as EvalResultBody,
    });
    expect(run.last.refusal).toMatchObject({ code: 'MALFORMED', reason: /compares no models/ });
    // site-a was dropped for it, so the quorum of 2 can no longer be reached.
    expect(only(run.last.commands, 'end-run')[0].reason).toMatch(/^evaluate round 0: /);
  });

  it('sends the paired round with compareWith, refuses an unpaired answer, and hands the pairing to the aggregate', () => {
    const run = new Script(
      plan({
        stages: { finetune: stage },
        quorum: { minSites: 1 },
        evaluation: { final: false, compareWith: [CENTRAL] },
      }),
    );
    run.deliver(run.centre(run.start(['site-a', 'site-b']), D2));
    run.update('site-a');
    run.update('site-b');
    const commands = run.feed({
      type: 'aggregation-finished',
      outputDigest: D1,
      outputBytes: 1,
      sites: ['site-a', 'site-b'],
    });
    const sent = run.deliver(commands);
    for (const c of sent.values()) {
      expect(c.task).toMatchObject({
        stage: 'evaluate',
        round: PAIRED_EVALUATION_ROUND,
        globalWeightsDigest: D1,
      });
      expect(c.task.config.compareWith).toEqual([CENTRAL]);
    }
    // An old-style answer (A's result alone) is never taken as the pair's: refused, site dropped.
    run.feed({
      type: 'evaluation-received',
      siteId: 'site-a',
      taskId: sent.get('site-a')!.task.taskId,
      result: evaluation(D1),
    });
    expect(run.last.refusal).toMatchObject({
      code: 'MALFORMED',
      reason: /must return the pair's aggregates/,
    });
    expect(only(run.last.commands, 'set-task-state')).toEqual([
      { kind: 'set-task-state', taskId: sent.get('site-a')!.task.taskId, state: 'rejected' },
    ]);
    // A pair of another model is refused too.
    run.feed({
      type: 'evaluation-received',
      siteId: 'site-b',
      taskId: sent.get('site-b')!.task.taskId,
      result: { ...evaluation(D1), paired: [pair(D2)] } as EvalResultBody,
    });
    expect(run.last.refusal?.code).toBe('MALFORMED');
    expect(run.state.phase).toBe('ended');
    expect(run.state.ended?.reason).toMatch(/^evaluate round 20000: /);
  });

  it('aggregates the paired answers with the compared models named', () => {
    const run = new Script(
      plan({ stages: { finetune: stage }, evaluation: { final: false, compareWith: [CENTRAL] } }),
    );
    run.deliver(run.centre(run.start(['site-a', 'site-b']), D2));
    run.update('site-a');
    run.update('site-b');
    const sent = run.deliver(
      run.feed({
        type: 'aggregation-finished',
        outputDigest: D1,
        outputBytes: 1,
        sites: ['site-a', 'site-b'],
      }),
    );
    for (const [siteId, c] of sent)
      run.feed({
        type: 'evaluation-received',
        siteId,
        taskId: c.task.taskId,
        result: { ...evaluation(D1), paired: [pair(CENTRAL)] } as EvalResultBody,
      });
    const aggregate = only(run.last.commands, 'aggregate')[0];
    expect(aggregate).toMatchObject({
      what: 'evaluate',
      modelDigest: D1,
      modelOf: 'global',
      compareWith: [CENTRAL],
      step: { stage: 'evaluate', round: PAIRED_EVALUATION_ROUND },
    });
    const end = run.feed({ type: 'aggregation-finished', outputDigest: D1, outputBytes: 1 });
    expect(only(end, 'end-run')[0]).toMatchObject({ outcome: 'complete', finalDigest: D1 });
  });
});
