import { SecAggSessions } from '../privacy/secagg-sessions';
import { SecAggSite } from '../privacy/secagg-site';
import { encodeSecureInput, secAggConfigOf, SecureAggregationSettings } from '../privacy/secagg-task';
import { createStrategy } from '../strategies/registry';
import type { NamedArray, TensorLayout } from '../types';
import type { EngineCommand } from './commands';
import { engineStep, EngineStep, initialState, openTaskOf, RunSpec } from './engine';
import type { EngineEvent } from './events';
import type { EnginePlan } from './plan';
import type { EngineState } from './state';

/**
 * The engine's SecAgg sub-steps, scripted with the real state machines on both sides: the
 * engine decides, `SecAggSessions` (the coordinator's adapter state) and `SecAggSite`s (the
 * agents) do the arithmetic, and the test carries messages between them as the adapters would.
 */

const T0 = Date.UTC(2026, 0, 1);
const INITIAL = 'a'.repeat(128);
const SITES = ['site-a', 'site-b', 'site-c', 'site-d', 'site-e'];
const LAYOUT: TensorLayout[] = [{ name: 'encoder/w', shape: [3] }];
const SAMPLES: Record<string, number> = {
  'site-a': 10,
  'site-b': 20,
  'site-c': 30,
  'site-d': 40,
  'site-e': 50,
};

function updateOf(siteId: string): NamedArray[] {
  const i = SITES.indexOf(siteId) + 1;
  return [{ name: 'encoder/w', shape: [3], values: Float32Array.from([0.01 * i, -0.02 * i, 0.5 - 0.1 * i]) }];
}

function plan(overrides: Partial<EnginePlan> = {}): EnginePlan {
  return {
    stages: {
      ssl: { rounds: 1, localEpochs: 1, batchSize: 2, maskRatio: 0.5, optimiser: { name: 'sgd', lr: 0.01 } },
    },
    quorum: { minSites: 2 },
    roundDeadlineSeconds: 60,
    encoding: 'float32',
    evaluation: { final: false },
    initialModel: INITIAL,
    seed: 1,
    privacy: { secureAggregation: true, threshold: 3 },
    ...overrides,
  };
}

function only<K extends EngineCommand['kind']>(commands: EngineCommand[], kind: K) {
  return commands.filter((c): c is Extract<EngineCommand, { kind: K }> => c.kind === kind);
}

/** The coordinator's adapters and the sites, in memory. */
class SecureRun {
  state: EngineState = initialState('run-1');
  now = T0;
  readonly spec: RunSpec;
  last!: EngineStep;
  readonly sessions = new SecAggSessions();
  readonly sites = new Map<string, SecAggSite>();
  settings!: SecureAggregationSettings;
  /** Outgoing messages of the last closed step, by site. */
  private outgoing = new Map<string, ReturnType<SecAggSessions['close']>[number]>();

  constructor(planned: EnginePlan = plan()) {
    this.spec = {
      runId: 'run-1',
      plan: planned,
      strategy: createStrategy({ name: 'fedavg' }),
      disconnectGraceMs: 5_000,
    };
  }

  feed(event: EngineEvent, atMs = this.now): EngineCommand[] {
    this.now = atMs;
    this.last = engineStep(this.spec, this.state, event, this.now);
    this.state = this.last.state;
    // The adapter executes secagg-close at once: close the server step, answer, then send.
    for (const close of only(this.last.commands, 'secagg-close')) this.close(close);
    return this.last.commands;
  }

  /** Starts the run; every site gets and acknowledges its task. */
  start() {
    const commands = this.feed({
      type: 'run-started',
      linkedSites: SITES,
      recordedRounds: [],
      initialModelBytes: 100,
    });
    const sent = only(commands, 'send-task');
    this.settings = sent[0].task.config.secureAggregation!;
    this.sessions.open(this.settings, LAYOUT);
    for (const c of sent) {
      this.sites.set(c.siteId, new SecAggSite(c.siteId, secAggConfigOf(this.settings, LAYOUT)));
      this.feed({ type: 'task-delivered', siteId: c.siteId, taskId: c.task.taskId });
    }
    return sent;
  }

  private admit(
    siteId: string,
    step: 'keys' | 'shares' | 'masked' | 'unmask',
    message: Parameters<SecAggSessions['receive']>[1],
  ) {
    const open = openTaskOf(this.state, siteId)!;
    expect(open.secure).toMatchObject({ step, accepting: true });
    this.sessions.receive(open.secure!.sessionId, message);
    return this.feed({ type: 'secagg-received', siteId, taskId: open.taskId, step, metrics: { loss: 1 } });
  }

  keys(siteId: string) {
    return this.admit(siteId, 'keys', { step: 'keys', advert: this.sites.get(siteId)!.advertise() });
  }

  shares(siteId: string) {
    const out = this.outgoing.get(siteId)!;
    if (out.next !== 'shares') throw new Error(`${siteId} was not asked for its shares`);
    const message = this.sites.get(siteId)!.shareKeys(out.directory);
    return this.admit(siteId, 'shares', { step: 'shares', shares: message });
  }

  masked(siteId: string) {
    const out = this.outgoing.get(siteId)!;
    if (out.next !== 'masked') throw new Error(`${siteId} was not asked for its input`);
    const { input } = encodeSecureInput(updateOf(siteId), SAMPLES[siteId], this.settings);
    const masked = this.sites.get(siteId)!.maskInput(out.inbox, input);
    return this.admit(siteId, 'masked', { step: 'masked', masked });
  }

  unmask(siteId: string) {
    const out = this.outgoing.get(siteId)!;
    if (out.next !== 'unmask') throw new Error(`${siteId} was not asked for its shares`);
    const message = this.sites.get(siteId)!.unmask(out.request);
    return this.admit(siteId, 'unmask', { step: 'unmask', unmask: message });
  }

  private close(command: Extract<EngineCommand, { kind: 'secagg-close' }>): void {
    let outgoing: ReturnType<SecAggSessions['close']>;
    try {
      outgoing = this.sessions.close(command.sessionId, command.closing);
    } catch (err) {
      this.feed({
        type: 'secagg-closed',
        sessionId: command.sessionId,
        step: command.closing,
        ok: false,
        reason: (err as Error).message,
      });
      return;
    }
    this.feed({ type: 'secagg-closed', sessionId: command.sessionId, step: command.closing, ok: true });
    this.outgoing = new Map(outgoing.map((o) => [o.to, o]));
  }

  /** Every site through every step; `drop` sites vanish after sharing their keys. */
  throughMasked(drop: string[]): void {
    this.start();
    for (const id of SITES) this.keys(id);
    for (const id of SITES) this.shares(id);
    for (const id of SITES.filter((s) => !drop.includes(s))) this.masked(id);
  }
}

/** FedAvg of the survivors' updates, in float64. */
function plainMean(survivors: string[]): number[] {
  const total = survivors.reduce((n, id) => n + SAMPLES[id], 0);
  return [0, 1, 2].map(
    (j) => survivors.reduce((acc, id) => acc + SAMPLES[id] * updateOf(id)[0].values[j], 0) / total,
  );
}

describe('round engine: secure aggregation sub-steps', () => {
  it('sends each site the session settings and never asks for a clear update', () => {
    const run = new SecureRun();
    const sent = run.start();
    expect(sent).toHaveLength(5);
    const settings = sent[0].task.config.secureAggregation!;
    expect(settings).toMatchObject({ threshold: 3, ringBits: 48, maxAbs: 256, weightCap: 4096 });
    expect(sent.every((c) => c.task.config.secureAggregation?.sessionId === settings.sessionId)).toBe(true);
    const taskId = openTaskOf(run.state, 'site-a')!.taskId;
    run.feed({
      type: 'update-received',
      siteId: 'site-a',
      taskId,
      update: { digest: 'd'.repeat(128), signature: 's', bytes: 1, nSamples: 1, encoding: 'float32' },
      entry: { siteId: 'site-a', kind: 'delta', numSamples: 1, deltaNorm: 1, metrics: {} },
    });
    expect(run.last.refusal).toMatchObject({ code: 'UNEXPECTED_MESSAGE' });
    expect(only(run.last.commands, 'store-update')).toHaveLength(0);
  });

  it('walks keys → shares → masked → unmask and aggregates the unmasked sum (no site drops)', () => {
    const run = new SecureRun();
    run.throughMasked([]);
    expect(openTaskOf(run.state, 'site-a')!.secure).toMatchObject({ step: 'unmask', accepting: true });
    for (const id of SITES) run.unmask(id);
    const [aggregate] = only(run.last.commands, 'aggregate');
    expect(aggregate).toMatchObject({ what: 'fit', updates: [], secure: { survivors: SITES } });
    const result = run.sessions.finish(run.settings.sessionId);
    expect(result.samples).toBe(150);
    const mean = plainMean(SITES);
    result.mean[0].values.forEach((v, j) => expect(Math.abs(v - mean[j])).toBeLessThan(1e-6));
    // The round's metrics are the clear ones the sites sent with their keys; no update row to mark.
    const done = run.feed({
      type: 'aggregation-finished',
      outputDigest: '9'.repeat(128),
      outputBytes: 1,
      sites: SITES,
      metrics: { num_sites: 5 },
    });
    expect(only(done, 'set-update-status')).toHaveLength(0);
    expect(only(done, 'record-metrics')[0].metrics.filter((m) => m.siteId).length).toBe(5);
    expect(only(done, 'end-run')[0]).toMatchObject({ outcome: 'complete' });
  });

  it('completes exactly when up to n − t sites drop after sharing their keys (deadline closes the step)', () => {
    for (const drop of [['site-b'], ['site-b', 'site-d']]) {
      const run = new SecureRun();
      run.throughMasked(drop);
      // The dropped never send: the masked step closes at its deadline.
      const deadline = run.state.round!.attempt!.secure!.step!.deadlineMs;
      run.feed({ type: 'tick' }, deadline);
      const survivors = SITES.filter((s) => !drop.includes(s));
      expect(run.state.round!.attempt!.secure!.step).toMatchObject({ name: 'unmask', expected: survivors });
      for (const id of survivors) run.unmask(id);
      const [aggregate] = only(run.last.commands, 'aggregate');
      expect(aggregate).toMatchObject({ secure: { survivors } });
      const result = run.sessions.finish(run.settings.sessionId);
      expect(result.dropped).toEqual(drop);
      const mean = plainMean(survivors);
      result.mean[0].values.forEach((v, j) => expect(Math.abs(v - mean[j])).toBeLessThan(1e-6));
    }
  });

  it('fails the round cleanly when more than n − t sites drop after sharing (no attempts left)', () => {
    const run = new SecureRun();
    run.throughMasked(['site-a', 'site-b', 'site-c']);
    const deadline = run.state.round!.attempt!.secure!.step!.deadlineMs;
    run.feed({ type: 'tick' }, deadline);
    // The server refused to close the masked step (2 holders < t = 3): the attempt failed, so did the run.
    expect(only(run.last.commands, 'end-run')[0]).toMatchObject({ outcome: 'fail' });
    expect(only(run.last.commands, 'update-round').at(-1)!.changes).toMatchObject({ state: 'failed' });
    expect(run.state.phase).toBe('ended');
    expect(run.state.ended).toMatchObject({ outcome: 'fail' });
    expect(run.state.ended!.reason).toMatch(
      /ssl round 0: .*secure aggregation.*cannot be unmasked.*no attempts left/,
    );
  });

  it('retries with a new session when the plan allows it', () => {
    const run = new SecureRun(plan({ maxRetries: 1 }));
    run.throughMasked(['site-a', 'site-b', 'site-c']);
    const first = run.settings.sessionId;
    const deadline = run.state.round!.attempt!.secure!.step!.deadlineMs;
    run.feed({ type: 'tick' }, deadline);
    const retried = only(run.last.commands, 'send-task');
    expect(retried).toHaveLength(5);
    expect(retried[0].task.config.secureAggregation!.sessionId).not.toBe(first);
    expect(run.state.round!.attempt!.number).toBe(2);
  });

  it('drops a site that disconnects mid-step once its grace ends, without waiting for the deadline', () => {
    const run = new SecureRun();
    run.start();
    for (const id of SITES) run.keys(id);
    for (const id of SITES.filter((s) => s !== 'site-e')) run.shares(id);
    run.feed({ type: 'site-left', siteId: 'site-e' });
    expect(only(run.last.commands, 'wake-at')[0]).toEqual({ kind: 'wake-at', atMs: run.now + 5_000 });
    run.feed({ type: 'tick' }, run.now + 5_000);
    // site-e is gone from the shares step: it closed with four, and the masked step expects four.
    expect(run.state.round!.attempt!.secure!.step).toMatchObject({
      name: 'masked',
      expected: ['site-a', 'site-b', 'site-c', 'site-d'],
    });
  });

  it('refuses a message for a step that is not running, and drops a site whose message the server refused', () => {
    const run = new SecureRun();
    run.start();
    run.keys('site-a');
    const taskId = openTaskOf(run.state, 'site-a')!.taskId;
    run.feed({ type: 'secagg-received', siteId: 'site-a', taskId, step: 'shares' });
    expect(run.last.refusal).toMatchObject({ code: 'WRONG_ROUND' });
    const b = openTaskOf(run.state, 'site-b')!.taskId;
    run.feed({
      type: 'secagg-refused',
      siteId: 'site-b',
      taskId: b,
      step: 'keys',
      code: 'SECAGG_DUPLICATE',
      reason: 'twice',
    });
    expect(run.state.round!.attempt!.sites['site-b'].outcome).toBe('dropped');
    expect(run.last.refusal).toMatchObject({ checkCode: 'SECAGG_DUPLICATE' });
  });

  it('refuses a plan that asks for cross-site evaluation with secure aggregation', () => {
    const run = new SecureRun(plan({ evaluation: { final: false, crossSite: true } }));
    run.feed({ type: 'run-started', linkedSites: SITES, recordedRounds: [], initialModelBytes: 100 });
    expect(run.state.ended).toMatchObject({ outcome: 'fail' });
    expect(run.state.ended!.reason).toMatch(/cross-site evaluation/);
  });
});
