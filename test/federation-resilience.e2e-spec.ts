import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLog } from '../libs/common/src';
import { generateCohort } from '../libs/imaging/src';
import { planDigest, provision } from '../libs/protocol/src';
import { AdminClient } from '../apps/cli/src/demo/admin-client';
import { demoPlan } from '../apps/cli/src/demo/run-demo';
import { SiteProcess, SiteProcessSpec } from '../apps/cli/src/demo/site-processes';
import { adminApi } from './support/admin-api';
import { CoordinatorProcess, CoordinatorProcessSpec, freePort, waitFor } from './support/coordinator-process';
import { completedLedger, RunDetail, tinyInitialWeights } from './support/run-ledger';

/**
 * Issue #7's resilience checks with nothing simulated: `phcc-fed coordinator` and three
 * `phcc-fed agent` processes (they run dist/: `npm run build` first — `npm ci` does) over
 * socket.io on 127.0.0.1, a tiny model, 3 synthetic hospitals, quorum 2 of 3. One run, in order:
 * an agent is SIGKILLed while it trains → the round closes with the other two long before its
 * deadline, and the agent, started again, takes part in a later round; then the coordinator is
 * SIGKILLed mid-round and started again on the same --db and port → the agents reconnect by
 * themselves and the run completes; finally the global model's pooled AUC on the test splits.
 * (Tampered, replayed and NaN updates: test/coordinator-rounds.e2e-spec.ts.)
 * RESILIENCE_KEEP=1 keeps the temp dir (logs, database) for a post-mortem.
 */
jest.setTimeout(90_000);

const TOKEN = 'e2e-resilience-token-0123456789';
const SITES = ['site-a', 'site-b', 'site-c'];
const VICTIM = 'site-c';
const SEED = 1;
const DEADLINE_S = 90;
/**
 * configs/plans/quick.yaml (the demo's plan: tuning it tunes this test) with these round counts:
 * enough rounds after the agent's kill for it to rejoin and for the coordinator to be killed later.
 */
const PLAN = { sslRounds: 2, finetuneRounds: 3 };
/** `phcc-fed demo --quick`'s cohort (seed 1, 0.3 scale, 100 patients a site): fewer stay at chance. */
const PATIENTS_PER_SITE = 100;

interface SiteView {
  id: string;
  connected: boolean;
}

describe('federation resilience: real coordinator + 3 agent processes', () => {
  let dir: string;
  let coordinator: CoordinatorProcess | undefined;
  let coordinatorSpec: CoordinatorProcessSpec;
  const agents = new Map<string, SiteProcess>();
  /** Every process this file started, so none outlives it (afterAll, or jest's own exit). */
  const spawned: { kill(): Promise<void> }[] = [];
  const killAll = () => Promise.all(spawned.map((p) => p.kill()));
  const onExit = () => void killAll();
  let runId: string;
  /** The run plan's digest, which every agent approves (`--approve`). */
  let planOfRun: string;
  const api = adminApi(() => coordinator!.url, TOKEN);
  const admin = () => new AdminClient(coordinator!.url, TOKEN);

  const run = () => api<RunDetail>('GET', `/runs/${runId}`);
  const round = (d: RunDetail, stage: string, n: number) =>
    d.rounds.find((r) => r.stage === stage && r.round === n);
  const sites = () => api<SiteView[]>('GET', '/sites');
  const connected = async (id: string) => (await sites()).find((s) => s.id === id)?.connected;
  const numSites = async (stage: string, n: number) =>
    (await admin().results(runId)).metrics.find(
      (m) => m.name === 'train/num_sites' && m.stage === stage && m.round === n,
    )?.value;

  const startAgent = (siteId: string, logName: string): SiteProcess => {
    const spec: SiteProcessSpec = {
      siteId,
      kitDir: join(dir, 'kits', 'sites', siteId),
      cohortDir: join(dir, 'cohort', siteId),
      stateDir: join(dir, 'agents', siteId),
      tiny: true,
      runId,
      logLevel: 'info',
      logFile: join(dir, logName),
      approve: [planOfRun],
    };
    const agent = new SiteProcess(spec);
    spawned.push(agent);
    agents.set(siteId, agent);
    return agent;
  };
  const startCoordinator = async (): Promise<CoordinatorProcess> => {
    coordinator = await CoordinatorProcess.start(coordinatorSpec);
    spawned.push(coordinator);
    return coordinator;
  };
  /** The first `task <id>: run <run> round <n>, <stage>` line of an agent's stdout that `accept`s. */
  const taskLine = (logFile: string, accept: (stage: string, n: number) => boolean) => {
    const text = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
    for (const m of text.matchAll(/^task (\S+): run (\S+) round (\d+), (\w+)$/gm)) {
      if (m[2] === runId && accept(m[4], Number(m[3])))
        return { taskId: m[1], stage: m[4], round: Number(m[3]) };
    }
    return undefined;
  };

  beforeAll(async () => {
    process.once('exit', onExit);
    dir = mkdtempSync(join(tmpdir(), 'phcc-resilience-e2e-'));
    await generateCohort({
      outDir: join(dir, 'cohort'),
      sites: SITES.length,
      patients: PATIENTS_PER_SITE,
      seed: SEED,
      scale: 0.3,
      force: true,
      log: silentLog,
    });
    // A fixed port: the kits name it, and the restarted coordinator must be found at the same URL.
    const port = await freePort();
    provision({ outDir: join(dir, 'kits'), coordinatorUrl: `http://127.0.0.1:${port}`, siteIds: SITES });
    coordinatorSpec = {
      dbFile: join(dir, 'coordinator.sqlite'),
      kitDir: join(dir, 'kits'),
      dataDir: join(dir, 'coordinator-data'),
      port,
      adminToken: TOKEN,
      logFile: join(dir, 'coordinator.log'),
    };
    await startCoordinator();
    const initialModel = await admin().uploadModel(await tinyInitialWeights(SEED));
    const plan = demoPlan({ ...PLAN, seed: SEED, sites: SITES.length }, initialModel);
    const created = await admin().createRun({
      ...plan,
      name: 'resilience e2e',
      quorum: { minSites: 2 },
      roundDeadlineSeconds: DEADLINE_S,
      maxRetries: 1,
      evaluation: { final: true, everyKRounds: 0, crossSite: false },
    });
    runId = created.id;
    planOfRun = planDigest(created.plan);
    for (const id of SITES) startAgent(id, `agent-${id}.log`);
    await waitFor(
      'all three agents to connect',
      async () => {
        const dead = [...agents.values()].find((a) => !a.running);
        if (dead) throw new Error(`the agent of ${dead.spec.siteId} exited; see ${dead.spec.logFile}`);
        return (await sites()).every((s) => s.connected) || undefined;
      },
      60_000,
      250,
    );
  }, 180_000);

  afterAll(async () => {
    await killAll();
    process.removeListener('exit', onExit);
    if (dir && !process.env.RESILIENCE_KEEP) rmSync(dir, { recursive: true, force: true });
  });

  it('closes a round with the quorum when an agent is killed mid-round; the restarted agent rejoins a later round', async () => {
    await admin().startRun(runId);
    const victim = agents.get(VICTIM)!;
    const killed = await waitFor(
      `${VICTIM} to receive its first SSL task`,
      () => taskLine(victim.spec.logFile, (stage, n) => stage === 'ssl' && n === 0),
      60_000,
      25,
    );
    await victim.kill('SIGKILL');
    // The coordinator has seen the socket close before the agent comes back (a new process, same kit).
    await waitFor(
      `the coordinator to notice ${VICTIM} is gone`,
      async () => (await connected(VICTIM)) === false || undefined,
      10_000,
    );
    const restarted = startAgent(VICTIM, `agent-${VICTIM}.restarted.log`);

    const first = await waitFor(
      'the interrupted round to end',
      async () => {
        const r = round(await run(), killed.stage, killed.round);
        return r && (r.state === 'done' || r.state === 'failed') ? r : undefined;
      },
      60_000,
    );
    expect(first.state).toBe('done');
    // Closed by the quorum of the two others, not by waiting for the deadline.
    const seconds = (Date.parse(first.endedAt!) - Date.parse(first.startedAt)) / 1000;
    expect(seconds).toBeLessThan(DEADLINE_S / 2);
    expect(await numSites(killed.stage, killed.round)).toBe(2);

    // The restarted agent reconnects and is sent (and completes) a task of a later training round.
    const rejoined = await waitFor(
      `the restarted ${VICTIM} to train in a later round`,
      () => {
        if (!restarted.running)
          throw new Error(`the restarted ${VICTIM} exited; see ${restarted.spec.logFile}`);
        return taskLine(restarted.spec.logFile, (stage) => stage === 'ssl' || stage === 'finetune');
      },
      60_000,
      100,
    );
    expect(`${rejoined.stage}/${rejoined.round}`).not.toBe(`${killed.stage}/${killed.round}`);
    await waitFor(
      `round ${rejoined.stage}/${rejoined.round} to be done`,
      async () => round(await run(), rejoined.stage, rejoined.round)?.state === 'done' || undefined,
      60_000,
    );
    expect(await numSites(rejoined.stage, rejoined.round)).toBe(3);
    expect(readFileSync(restarted.spec.logFile, 'utf8')).toContain(
      `task ${rejoined.taskId}: update accepted by the coordinator`,
    );
  });

  it('completes the run when the coordinator is killed mid-round and restarted on the same --db and port', async () => {
    const interrupted = await waitFor(
      'a later round to be collecting updates',
      async () => {
        const d = await run();
        if (d.state !== 'running')
          throw new Error(`the run ended (${d.state}) before the coordinator was killed`);
        return d.rounds.find((r) => r.state === 'collecting');
      },
      60_000,
      50,
    );
    await coordinator!.kill('SIGKILL');
    for (const agent of agents.values()) expect(agent.running).toBe(true);
    await startCoordinator();

    const done = await waitFor(
      'the run to end after the restart',
      async () => {
        const d = await run();
        return d.state === 'running' ? undefined : d;
      },
      75_000,
      250,
    );
    expect(done.reason).toBeUndefined();
    expect(done.state).toBe('completed');
    const resumed = round(done, interrupted.stage, interrupted.round)!;
    expect(resumed).toMatchObject({ state: 'done', reason: 'resumed after a coordinator restart' });
    expect(done.rounds.map((r) => `${r.stage}/${r.round}/${r.state}`)).toEqual(completedLedger(PLAN));
    // Nobody restarted the agents: each reconnected on its own (backoff) and is linked again.
    await waitFor(
      'every agent to be connected again',
      async () => (await sites()).every((s) => s.connected) || undefined,
      30_000,
      250,
    );
    for (const agent of agents.values()) {
      expect(agent.running).toBe(true);
      const log = readFileSync(agent.spec.logFile, 'utf8');
      expect(log.match(/^connected; coordinator key verified$/gm)?.length).toBeGreaterThanOrEqual(2);
    }
  });

  it("evaluates the final global model on the sites' test splits better than chance", async () => {
    const results = await admin().results(runId);
    const metric = (name: string) => results.metrics.find((m) => m.name === name)?.value;
    const pooled = metric('eval/pooled_auc');
    const evaluated = results.evaluations.filter((e) => e.modelOf === 'global');
    if (process.env.RESILIENCE_REPORT) {
      const perSite = evaluated.map(
        (e) =>
          `${e.siteId} ${e.auc?.toFixed(3)} [${e.aucLow?.toFixed(3)}, ${e.aucHigh?.toFixed(3)}] n=${e.n}`,
      );
      const binning = metric('eval/pooled_auc_max_binning_error')?.toFixed(3);
      process.stderr.write(
        `pooled AUC ${pooled?.toFixed(3)} (± ${binning} binning); ${perSite.join('; ')}\n`,
      );
    }
    expect(evaluated.length).toBeGreaterThanOrEqual(2);
    // Issue #7 "beats chance". If this fails, tune the plan/model — never relax this line.
    expect(pooled).toBeGreaterThan(0.5);
  });
});
