import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planDigest } from '../libs/protocol/src';
import { AgentEvent, ConsentGate, SiteAgent } from '../apps/site-agent/src';
import { FakeCoordinator, tinyGlobal } from '../apps/site-agent/src/test-support/fake-coordinator';
import { FakeExecutor } from '../apps/site-agent/src/test-support/fake-executor';

/**
 * The site's consent over a real socket (fake coordinator, fake executors): a plan the site did
 * not approve is declined with its reason code and nothing is trained; approving it in the
 * approvals folder lets the next task through; a site limit refuses an approved plan; a private
 * evaluation releases only k-anonymous bins, and the message log holds exactly what left.
 */
async function until(check: () => boolean, what: string, timeoutMs = 8_000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const plan = (privacy?: Record<string, unknown>) => ({
  name: 'consent e2e',
  stages: {
    ssl: { rounds: 2, localEpochs: 1, batchSize: 4, optimiser: { name: 'adam', lr: 0.001 }, maskRatio: 0.6 },
  },
  strategy: { name: 'fedavg' },
  encoding: 'float32',
  evaluation: { final: true },
  ...(privacy ? { privacy } : {}),
});

describe('site consent and private evaluation (agent ↔ fake coordinator)', () => {
  let coordinator: FakeCoordinator;
  let agent: SiteAgent;
  let stateDir: string;
  let approvalsDir: string;
  const ssl = new FakeExecutor('ssl', 0.5);
  const evaluate = new FakeExecutor('evaluate');
  const events: AgentEvent[] = [];
  const shown: string[] = [];

  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), 'consent-e2e-'));
    approvalsDir = mkdtempSync(join(tmpdir(), 'consent-approvals-'));
    coordinator = new FakeCoordinator();
    await coordinator.start();
    agent = new SiteAgent({
      kit: coordinator.siteKit(),
      executors: { ssl, evaluate },
      stateDir,
      reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
      ackTimeoutMs: 3_000,
      onEvent: (e) => events.push(e),
      consent: new ConsentGate({
        approvalsDir,
        limits: { minBinCount: 3 },
        show: (_s, text) => shown.push(text),
      }),
    });
    await agent.start();
  });

  afterAll(async () => {
    await agent.stop();
    await coordinator.stop();
    rmSync(stateDir, { recursive: true, force: true });
    rmSync(approvalsDir, { recursive: true, force: true });
  });

  const acks = () => coordinator.messagesOf('task-ack').map((m) => m.body);

  it('declines a plan it did not approve with PLAN_NOT_APPROVED, shows it, and trains nothing', async () => {
    const p = plan({ secureAggregation: false, evaluation: { minBinCount: 5 } });
    await coordinator.sendTask('ssl', tinyGlobal(), { taskId: 'unapproved', plan: p });
    await until(() => acks().length === 1, 'the declining task-ack');
    expect(acks()[0]).toMatchObject({ accepted: false, refusalCode: 'PLAN_NOT_APPROVED' });
    expect(acks()[0].reason).toContain(planDigest(p));
    expect(ssl.calls).toHaveLength(0);
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'plan-refused', code: 'PLAN_NOT_APPROVED' }),
    );
    expect(shown[0]).toContain(`sha512 ${planDigest(p)}`);
    expect(shown[0]).toContain('smallest released histogram bin: 5 patient(s)');
  });

  it('trains the same plan once its digest is in the approvals folder (read when a plan arrives)', async () => {
    const p = plan({ secureAggregation: false, evaluation: { minBinCount: 5 } });
    writeFileSync(join(approvalsDir, `${planDigest(p)}.approved`), 'approved by the DPO\n');
    await coordinator.sendTask('ssl', tinyGlobal(), { taskId: 'approved', plan: p });
    await until(() => coordinator.messagesOf('update').length === 1, 'the update');
    expect(acks()[1]).toMatchObject({ accepted: true });
    expect(ssl.calls).toHaveLength(1);
  });

  it('refuses an approved plan that breaks a site limit, and a task that carries no plan', async () => {
    const loose = plan(); // no privacy section: fine bins (k = 1) break the site's minimum of 3
    writeFileSync(join(approvalsDir, `${planDigest(loose)}.approved`), '');
    await coordinator.sendTask('ssl', tinyGlobal(), { taskId: 'too-fine', plan: loose });
    await coordinator.sendTask('ssl', tinyGlobal(), { taskId: 'no-plan' });
    await until(() => acks().length === 4, 'two more task-acks');
    expect(acks()[2]).toMatchObject({ accepted: false, refusalCode: 'PLAN_BIN_COUNT_TOO_LOW' });
    expect(acks()[3]).toMatchObject({ accepted: false, refusalCode: 'PLAN_MALFORMED' });
    expect(ssl.calls).toHaveLength(1);
  });

  it('a private evaluation releases k-anonymous bins only, and the message log holds exactly that body', async () => {
    const p = plan({ secureAggregation: false, evaluation: { minBinCount: 5 } });
    await coordinator.sendTask('evaluate', tinyGlobal(), {
      taskId: 'private-eval',
      plan: p,
      instruction: { minBinCount: 5 },
    });
    await until(() => coordinator.messagesOf('eval-result').length === 1, 'the eval-result');
    const body = coordinator.messagesOf('eval-result')[0].body;
    // The fake site has 5 patients: one bin of all five, no exact AUC, no per-bin detail under k.
    expect(body.histogram).toEqual({ bins: 1, edges: [0, 1], positive: [3], negative: [2] });
    expect(body.auc).toBeUndefined();
    const logged = readFileSync(join(stateDir, 'messages.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { type?: string; body?: { taskId?: string } })
      .find((e) => e.body?.taskId === 'private-eval' && e.type === 'eval-result');
    expect(logged?.body).toEqual(JSON.parse(JSON.stringify(body)));
  });
});
