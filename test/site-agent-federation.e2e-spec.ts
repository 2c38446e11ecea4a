import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeWeights, encodeWeights } from '../libs/weights/src';
import { payloadDigest, ProtocolError, signEnvelope } from '../libs/protocol/src';
import { testKeyPair } from '../libs/protocol/src/test-support/fixtures';
import { AgentEvent, LocalParamStore, PrivacyGuardError, SiteAgent } from '../apps/site-agent/src';
import { FakeCoordinator, TEST_SITE, tinyGlobal } from '../apps/site-agent/src/test-support/fake-coordinator';
import { FakeExecutor } from '../apps/site-agent/src/test-support/fake-executor';

/**
 * The site agent against a minimal fake coordinator on 127.0.0.1 (real handshake, signatures and
 * chunked transfer; fake executors, no tfjs): a task is verified, trained and answered with a
 * signed update the coordinator accepts; a forged task is refused without training; every frame on
 * the wire is in the message log; the privacy guard stops what must not leave; the agent comes
 * back after the coordinator restarts.
 */
async function until(check: () => boolean, what: string, timeoutMs = 8_000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('site agent ↔ fake coordinator (127.0.0.1)', () => {
  let coordinator: FakeCoordinator;
  let agent: SiteAgent;
  let stateDir: string;
  const ssl = new FakeExecutor('ssl', 0.5);
  const evaluate = new FakeExecutor('evaluate');
  const events: AgentEvent[] = [];

  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), 'site-agent-e2e-'));
    coordinator = new FakeCoordinator();
    await coordinator.start();
    agent = new SiteAgent({
      kit: coordinator.siteKit(),
      executors: { ssl, evaluate },
      stateDir,
      keepLocal: /\/ln\//,
      // The phases this site's model was loaded for: tasks that name others are declined.
      phases: { count: 4, names: ['pre', 'arterial', 'portal_venous', 'delayed'], times: [0, 35, 70, 180] },
      reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
      ackTimeoutMs: 3_000,
      transfer: { chunkBytes: 16 },
      onEvent: (e) => events.push(e),
    });
    await agent.start();
  });

  afterAll(async () => {
    await agent.stop();
    await coordinator.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('authenticates both ways: signed handshake in, verified welcome back', () => {
    expect(agent.connected).toBe(true);
    expect(coordinator.handshakes).toHaveLength(1);
    expect(coordinator.handshakes[0].siteId).toBe(TEST_SITE);
  });

  it('trains a verified task and returns a signed update with the stage layout, FedBN tensors kept local', async () => {
    const global = tinyGlobal();
    const ack = await coordinator.sendTask('ssl', global);
    expect(ack.ok).toBe(true);
    await until(() => coordinator.messagesOf('update').length === 1, 'the update');

    expect(ssl.calls).toHaveLength(1);
    expect(coordinator.messagesOf('task-ack')[0].body).toMatchObject({ accepted: true, stage: 'ssl' });
    const { message, payload } = coordinator.received.find((r) => r.message.envelope.type === 'update')!;
    expect(message.envelope.signer).toBe(TEST_SITE);
    expect(message.body).toMatchObject({
      kind: 'delta',
      encoding: 'float32',
      nSamples: 5,
      metrics: { loss: 0.25 },
    });
    expect(message.body).toMatchObject({ baseDigest: payloadDigest(encodeWeights(global, 'float32')) });
    const update = decodeWeights(payload!);
    // SSL uploads encoder + decoder, minus the LayerNorm (FedBN); the delta is exactly +0.5.
    expect(update.map((a) => a.name)).toEqual(['decoder/out/kernel', 'encoder/stem/kernel']);
    for (const a of update) for (const v of a.values) expect(v).toBeCloseTo(0.5, 6);
    // …and the LayerNorm went to the local state instead, trained value included.
    const local = new LocalParamStore(stateDir).load();
    expect(local.map((a) => a.name)).toEqual(['encoder/s1b0/ln/gamma']);
    expect(local[0].values[1]).toBeCloseTo(0.1 + 0.5, 6);
    expect(coordinator.messagesOf('status').map((m) => m.body.state)).toEqual(
      expect.arrayContaining(['idle', 'training', 'uploading']),
    );
  });

  it('uses its kept-local parameters in the next task, not the global ones', async () => {
    await coordinator.sendTask('ssl', tinyGlobal(10), { taskId: 'r1-ssl-hospital-a' });
    await until(() => ssl.calls.length === 2, 'the second training');
    const gamma = ssl.calls[1].global.find((a) => a.name === 'encoder/s1b0/ln/gamma')!;
    expect(gamma.values[1]).toBeCloseTo(0.6, 6);
    const kernel = ssl.calls[1].global.find((a) => a.name === 'encoder/stem/kernel')!;
    expect(kernel.values[1]).toBeCloseTo(10.1, 5);
    await until(() => coordinator.messagesOf('update').length === 2, 'the second update');
  });

  it('returns evaluation aggregates (counts + histograms) without a payload', async () => {
    await coordinator.sendTask('evaluate', tinyGlobal(), { taskId: 'r1-eval-hospital-a' });
    await until(() => coordinator.messagesOf('eval-result').length === 1, 'the eval-result');
    const result = coordinator.messagesOf('eval-result')[0];
    expect(result.envelope.payloadBytes).toBe(0);
    expect(result.body).toMatchObject({ nPositive: 3, nNegative: 2, auc: 0.75 });
    expect(result.body.histogram.positive).toEqual([0, 1, 0, 2]);
  });

  it('paired evaluation (1.3): takes the model bundle, checks each model by digest, returns the pair aggregates', async () => {
    const a = tinyGlobal(1);
    const b = tinyGlobal(2);
    const calls = evaluate.calls.length;
    await coordinator.sendTask('evaluate', a, { taskId: 'paired-hospital-a', compared: [b] });
    await until(() => coordinator.messagesOf('eval-result').length === 2, 'the paired eval-result');
    const call = evaluate.calls[calls];
    expect(call.global.find((t) => t.name === 'head/fc/kernel')!.values[0]).toBeCloseTo(1, 6);
    expect(call.compared).toHaveLength(1);
    expect(call.compared[0].find((t) => t.name === 'head/fc/kernel')!.values[0]).toBeCloseTo(2, 6);
    const result = coordinator.messagesOf('eval-result')[1];
    const digestOf = (m: typeof a) => payloadDigest(encodeWeights(m, 'float32'));
    // The evaluated model is A (the task's globalWeightsDigest), not the bundle the envelope carried.
    expect(result.body.modelDigest).toBe(digestOf(a));
    expect(result.body.paired).toEqual([
      {
        modelDigest: digestOf(b),
        aucA: 0.75,
        aucB: 0.5,
        varA: 0.02,
        varB: 0.03,
        covAB: 0.01,
        nPos: 3,
        nNeg: 2,
      },
    ]);
  });

  it('declines a paired task whose bundle does not hold the models its digests name', async () => {
    const calls = evaluate.calls.length;
    const acks = coordinator.messagesOf('task-ack').length;
    // compareWith names another model than the one bundled: the site never scores it.
    await expect(
      coordinator.sendTask('evaluate', tinyGlobal(1), {
        taskId: 'paired-forged',
        compared: [tinyGlobal(2)],
        config: { compareWith: [payloadDigest(encodeWeights(tinyGlobal(3), 'float32'))] },
      }),
    ).rejects.toThrow(/MALFORMED: global weights do not decode: model bundle: model 1 has digest/);
    await until(() => coordinator.messagesOf('task-ack').length === acks + 1, 'the declining ack');
    expect(coordinator.messagesOf('task-ack').at(-1)!.body).toMatchObject({
      accepted: false,
      taskId: 'paired-forged',
    });
    expect(evaluate.calls).toHaveLength(calls);
  });

  it('refuses a task signed by the wrong key: error sent, nothing trained', async () => {
    const trainedBefore = ssl.calls.length;
    const errorsBefore = coordinator.messagesOf('error').length;
    await expect(
      coordinator.sendTask('ssl', tinyGlobal(), {
        taskId: 'forged',
        signWith: testKeyPair('mallory').secretKey,
      }),
    ).rejects.toMatchObject({ code: 'BAD_SIGNATURE' });
    await until(() => coordinator.messagesOf('error').length === errorsBefore + 1, 'the error report');
    expect(coordinator.messagesOf('error').at(-1)!.body).toMatchObject({
      code: 'BAD_SIGNATURE',
      ref: 'forged',
    });
    expect(ssl.calls.length).toBe(trainedBefore);
  });

  it('declines a stage it has no executor for with a signed task-ack (accepted: false)', async () => {
    await expect(coordinator.sendTask('finetune', tinyGlobal(), { taskId: 'ft-1' })).rejects.toBeInstanceOf(
      ProtocolError,
    );
    await until(
      () => coordinator.messagesOf('task-ack').some((m) => m.body.taskId === 'ft-1'),
      'the declining task-ack',
    );
    const ack = coordinator.messagesOf('task-ack').find((m) => m.body.taskId === 'ft-1')!;
    expect(ack.body).toMatchObject({ accepted: false, stage: 'finetune' });
    expect(ack.body.reason).toMatch(/^WRONG_STAGE/);
  });

  it('declines a task whose plan names other phases with PHASE_MISMATCH, before training', async () => {
    const trainedBefore = ssl.calls.length;
    const six = ['pre', 'early_arterial', 'late_arterial', 'portal_venous', 'transitional', 'hepatobiliary'];
    await expect(
      coordinator.sendTask('ssl', tinyGlobal(), { taskId: 'ph-1', config: { phases: { names: six } } }),
    ).rejects.toBeInstanceOf(ProtocolError);
    await until(
      () => coordinator.messagesOf('task-ack').some((m) => m.body.taskId === 'ph-1'),
      'the declining task-ack',
    );
    const ack = coordinator.messagesOf('task-ack').find((m) => m.body.taskId === 'ph-1')!;
    expect(ack.body).toMatchObject({ accepted: false, stage: 'ssl' });
    expect(ack.body.reason).toMatch(/^PHASE_MISMATCH.*run's model takes 6 phases .*loaded for 4 phases/);
    expect(ssl.calls.length).toBe(trainedBefore);
  });

  it('privacy guard: no non-protocol event, no oversized or foreign-layout payload leaves', async () => {
    const framesBefore = coordinator.frames.length;
    await expect(agent.channel.send('patient-scores', { scores: [0.1, 0.9] })).rejects.toBeInstanceOf(
      PrivacyGuardError,
    );
    const kit = coordinator.siteKit();
    const sign = (payload: Uint8Array) =>
      signEnvelope({
        type: 'update',
        body: {
          sender: TEST_SITE,
          nonce: 'guard-test-nonce-0001',
          timestamp: Date.now(),
          runId: 'run-1',
          round: 0,
          taskId: 'guard',
          stage: 'ssl',
          nSamples: 1,
          metrics: {},
          encoding: 'float32',
          kind: 'weights',
          baseDigest: payloadDigest(payload),
        },
        signer: TEST_SITE,
        secretKey: kit.keys.secretKey,
        payload,
      });
    const global = tinyGlobal();
    const shapes = Object.fromEntries(global.map((a) => [a.name, a.shape]));
    const payload = encodeWeights(global, 'float32');
    await expect(agent.channel.sendUpdate(sign(payload), payload, { shapes, maxBytes: 64 })).rejects.toThrow(
      /exceeds the limit/,
    );
    const foreign = encodeWeights([{ name: 'voxels', shape: [4], values: new Float32Array(4) }], 'float32');
    await expect(agent.channel.sendUpdate(sign(foreign), foreign, { shapes, maxBytes: 1e6 })).rejects.toThrow(
      /weight layout/,
    );
    // A transfer the guard never approved cannot start either.
    await expect(
      agent.channel.send('transfer:begin', { transferId: 'x'.repeat(16), envelope: sign(payload) }),
    ).rejects.toBeInstanceOf(PrivacyGuardError);
    await new Promise((r) => setTimeout(r, 100));
    expect(coordinator.frames.length).toBe(framesBefore);
  });

  it('logs every frame it sent (bodies, payload size and digest, never payload bytes)', async () => {
    await until(
      () => coordinator.frames.length === agent.messageLog.read().filter((e) => !e.ack).length,
      'log = wire',
    );
    const sent = agent.messageLog.read().filter((e) => !e.ack);
    expect(sent.map((e) => e.event)).toEqual(coordinator.frames.map((f) => f.event));
    const updateLine = sent.find((e) => e.event === 'transfer:begin')!;
    expect(updateLine).toMatchObject({ type: 'update', signer: TEST_SITE });
    expect(updateLine.digest).toMatch(/^[0-9a-f]{128}$/);
    expect(updateLine.payloadBytes).toBeGreaterThan(0);
    for (const entry of sent) expect(JSON.stringify(entry)).not.toMatch(/"data"/);
    const evalLine = sent.find((e) => e.type === 'eval-result')!;
    expect(evalLine.body).toMatchObject({ nPositive: 3, histogram: { bins: 4 } });
  });

  it('reconnects after the coordinator restarts, with a fresh handshake, and keeps working', async () => {
    const port = coordinator.port;
    await coordinator.stop();
    await until(() => !agent.connected, 'the disconnect');
    await coordinator.start(port);
    await until(() => agent.connected, 'the reconnect', 10_000);
    expect(coordinator.handshakes.length).toBeGreaterThanOrEqual(2);
    expect(coordinator.handshakes.at(-1)!.nonce).not.toBe(coordinator.handshakes[0].nonce);
    const updates = coordinator.messagesOf('update').length;
    await coordinator.sendTask('ssl', tinyGlobal(), { taskId: 'after-restart' });
    await until(() => coordinator.messagesOf('update').length === updates + 1, 'the update after restart');
    expect(events.some((e) => e.type === 'disconnected')).toBe(true);
  }, 30_000);

  it('finishes a task across a dropped connection: the update is signed and delivered after reconnecting', async () => {
    const slowState = mkdtempSync(join(tmpdir(), 'site-agent-slow-'));
    const slow = new FakeExecutor('finetune', 0.25, 1_500);
    const slowAgent = new SiteAgent({
      kit: coordinator.siteKit(),
      executors: { finetune: slow },
      stateDir: slowState,
      reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
      ackTimeoutMs: 3_000,
    });
    try {
      await agent.stop(); // one site per fake coordinator: hand the connection to the slow agent
      await slowAgent.start();
      const updates = coordinator.messagesOf('update').length;
      await coordinator.sendTask('finetune', tinyGlobal(), { taskId: 'survives-restart' });
      await until(() => slow.calls.length === 1, 'training to start');
      const port = coordinator.port;
      const statusesBefore = coordinator.messagesOf('status').length;
      await coordinator.stop();
      await coordinator.start(port);
      await until(
        () => coordinator.messagesOf('update').length === updates + 1,
        'the resumed update',
        10_000,
      );
      const resumed = coordinator.messagesOf('update').at(-1)!;
      expect(resumed.body).toMatchObject({ taskId: 'survives-restart', stage: 'finetune' });
      // The restarted coordinator is told at the welcome that the site is busy with that task, not idle.
      expect(coordinator.messagesOf('status')[statusesBefore]?.body).toMatchObject({
        state: 'training',
        taskId: 'survives-restart',
      });
    } finally {
      await slowAgent.stop();
      rmSync(slowState, { recursive: true, force: true });
    }
  }, 30_000);

  it('gives up at once when the coordinator does not know this site', async () => {
    const unknownState = mkdtempSync(join(tmpdir(), 'site-agent-unknown-'));
    const stranger = new SiteAgent({
      kit: { ...coordinator.siteKit(), siteId: 'hospital-x', keys: testKeyPair('hospital-x') },
      executors: {},
      stateDir: unknownState,
    });
    try {
      await expect(stranger.start()).rejects.toThrow(/UNKNOWN_SIGNER/);
      await expect(stranger.done).rejects.toThrow(/UNKNOWN_SIGNER/);
    } finally {
      rmSync(unknownState, { recursive: true, force: true });
    }
  });
});
