import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../apps/cli/src/main';
import { TINY_MODEL } from '../apps/cli/src/commands/model-inputs';
import { FakeCoordinator } from '../apps/site-agent/src/test-support/fake-coordinator';
import { generateCohort } from '../libs/imaging/src';
import { decodeWeights } from '../libs/weights/src';
import { PhccModel } from '../libs/model/src/network';
import { loadCoordinator, loadSiteKit, planDigest, provision } from '../libs/protocol/src';

/**
 * `phcc-fed agent --once` end to end: a provisioned kit, a small synthetic cohort and the tiny
 * model, against the fake coordinator: the agent prints its cohort report, connects, trains the
 * SSL task with tfjs and its signed update arrives with the SSL stage's exact layout.
 */
jest.setTimeout(60_000);

/** The run plan signed into the task; the agent trains it because it was started with --approve. */
const PLAN = {
  name: 'agent cli e2e',
  stages: {
    ssl: { rounds: 1, localEpochs: 1, batchSize: 8, optimiser: { name: 'adam', lr: 0.001 }, maskRatio: 0.6 },
  },
  strategy: { name: 'fedbn' },
  encoding: 'float32',
  evaluation: { final: false },
};

describe('phcc-fed agent (against a fake coordinator)', () => {
  let root: string;
  let coordinator: FakeCoordinator;
  let kitDir: string;
  let cohortDir: string;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'phcc-agent-cli-'));
    const keysDir = join(root, 'keys');
    provision({ outDir: keysDir, coordinatorUrl: 'http://127.0.0.1:1', siteIds: ['site-a'] });
    kitDir = join(keysDir, 'sites', 'site-a');
    const site = loadSiteKit(kitDir);
    coordinator = new FakeCoordinator({
      coordinatorKeys: loadCoordinator(join(keysDir, 'coordinator')).keys,
      siteId: 'site-a',
      sitePublicKey: site.keys.publicKey,
    });
    await coordinator.start();
    const summary = await generateCohort({
      outDir: join(root, 'cohort'),
      sites: 1,
      patients: 6,
      seed: 4,
      scale: 0.3,
      threads: 0,
    });
    cohortDir = summary.sites[0].dir;
  });

  afterAll(async () => {
    await coordinator.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('connects with the kit, trains the task and sends a signed update, then stops (--once)', async () => {
    // The kit names a dead URL: point it at the fake coordinator without touching the kit files.
    const kitJson = JSON.parse(readFileSync(join(kitDir, 'kit.json'), 'utf8')) as Record<string, unknown>;
    kitJson.coordinatorUrl = coordinator.url;
    writeFileSync(join(kitDir, 'kit.json'), JSON.stringify(kitJson));

    const out: string[] = [];
    const so = jest.spyOn(process.stdout, 'write').mockImplementation((c) => (out.push(String(c)), true));
    const se = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    process.exitCode = 0;
    const state = join(root, 'state');
    const running = runCli(
      ['node', 'phcc-fed', '--log-level', 'silent', '--backend', 'wasm', 'agent'].concat([
        '--kit',
        kitDir,
        '--cohort',
        cohortDir,
        '--state',
        state,
        '--tiny',
        '--once',
        '--fedbn',
        '--approve',
        planDigest(PLAN),
      ]),
    );
    try {
      const start = Date.now();
      while (!coordinator.messagesOf('status').some((m) => m.body.state === 'idle')) {
        if (Date.now() - start > 40_000) throw new Error('agent never connected');
        await new Promise((r) => setTimeout(r, 50));
      }
      const global = PhccModel.create(TINY_MODEL, 5).params.getWeights();
      const ack = await coordinator.sendTask('ssl', global, {
        config: { batchSize: 8, maxUpdateBytes: 8 * 1024 * 1024 },
        plan: PLAN,
      });
      expect(ack.ok).toBe(true);
      await running;
    } finally {
      so.mockRestore();
      se.mockRestore();
    }
    const stdout = out.join('');
    expect(process.exitCode ?? 0).toBe(0);
    expect(stdout).toMatch(/train: \d+/);
    expect(stdout).toMatch(/connected; coordinator key verified/);
    expect(stdout).toMatch(/update accepted by the coordinator/);
    expect(stdout).toMatch(/agent stopped/);
    // The agent showed the plan it was asked to train before training it.
    expect(stdout).toMatch(/run plan received:/);
    expect(stdout).toContain(`Plan "agent cli e2e"  sha512 ${planDigest(PLAN)}`);
    const update = coordinator.received.find((r) => r.message.envelope.type === 'update')!;
    expect(update.message.envelope.signer).toBe('site-a');
    const names = decodeWeights(update.payload!).map((a) => a.name);
    expect(names.length).toBeGreaterThan(0);
    expect(names.every((n) => n.startsWith('encoder/') || n.startsWith('decoder/'))).toBe(true);
    expect(names.some((n) => /\/(?:norm|ln|grn)/.test(n))).toBe(false);
    expect(existsSync(join(state, 'messages.jsonl'))).toBe(true);
    expect(existsSync(join(state, 'local-params.weights'))).toBe(true);
  });
});
