import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { silentLog } from '../libs/common/src';
import { generateCohort } from '../libs/imaging/src';
import { planDigest } from '../libs/protocol/src/consent';
import { provision } from '../libs/protocol/src';
import { AdminClient } from '../apps/cli/src/demo/admin-client';
import { demoPlan } from '../apps/cli/src/demo/run-demo';
import { SiteProcess } from '../apps/cli/src/demo/site-processes';
import { CoordinatorProcess, CoordinatorProcessSpec, freePort, waitFor } from './support/coordinator-process';
import { PostgresServer } from './support/postgres-server';
import { completedLedger, RunDetail, tinyInitialWeights } from './support/run-ledger';

/**
 * Failover with nothing simulated (issue #14): a throwaway PostgreSQL server, two `phcc-fed
 * coordinator` processes on its one database and one shared blob folder (A active, B standing by
 * behind a 503 /health/ready), three `phcc-fed agent` processes given both URLs. A is SIGKILLed
 * while a round collects updates; B takes the advisory lock, resumes the run from the database and
 * the agents move to it by themselves; the run completes with every round in the ledger exactly
 * once and no site update aggregated twice. A, started again, is the standby now.
 * FAILOVER_KEEP=1 keeps the temp dir (logs, blobs) for a post-mortem.
 */
// Agents load tfjs and train on a shared 2-core machine: minutes, each wait bounded below.
jest.setTimeout(300_000);

const TOKEN = 'e2e-failover-token-0123456789';
const SITES = ['site-a', 'site-b', 'site-c'];
const SEED = 3;
const PLAN = { sslRounds: 2, finetuneRounds: 2 };

const getJson = async (url: string) => {
  const response = await fetch(url);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};

describe('failover: two coordinator processes on one PostgreSQL database', () => {
  let dir: string;
  let postgres: PostgresServer;
  let dbUrl: string;
  let a: CoordinatorProcess;
  let b: CoordinatorProcess;
  let specOf: (port: number, name: string, startsAs?: 'standby') => CoordinatorProcessSpec;
  let portA: number;
  let portB: number;
  let runId: string;
  const agents: SiteProcess[] = [];
  const spawned: { kill(): Promise<void> }[] = [];
  const killAll = () => Promise.all(spawned.map((p) => p.kill()));
  const onExit = () => void killAll();
  const start = async (spec: CoordinatorProcessSpec) => {
    const process = await CoordinatorProcess.start(spec);
    spawned.push(process);
    return process;
  };

  beforeAll(async () => {
    process.once('exit', onExit);
    dir = mkdtempSync(join(tmpdir(), 'phcc-failover-e2e-'));
    postgres = await PostgresServer.start();
    dbUrl = await postgres.createDatabase('phcc');
    await generateCohort({
      outDir: join(dir, 'cohort'),
      sites: SITES.length,
      patients: 40,
      seed: SEED,
      scale: 0.3,
      force: true,
      log: silentLog,
    });
    [portA, portB] = [await freePort(), await freePort()];
    // One kit (the coordinator key both sign with) and one blob folder, as on shared storage.
    provision({ outDir: join(dir, 'kits'), coordinatorUrl: `http://127.0.0.1:${portA}`, siteIds: SITES });
    specOf = (port, name, startsAs) => ({
      dbFile: dbUrl,
      kitDir: join(dir, 'kits'),
      dataDir: join(dir, 'shared-blobs'),
      port,
      adminToken: TOKEN,
      logFile: join(dir, `coordinator-${name}.log`),
      startsAs,
    });
    a = await start(specOf(portA, 'a'));
    b = await start(specOf(portB, 'b', 'standby'));
  }, 180_000);

  afterAll(async () => {
    await killAll();
    process.removeListener('exit', onExit);
    await postgres?.stop();
    if (dir && !process.env.FAILOVER_KEEP) rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the standby out of service: live, not ready, no API and no site gateway', async () => {
    expect(await getJson(`${b.url}/health/live`)).toMatchObject({ status: 200, body: { role: 'standby' } });
    expect(await getJson(`${b.url}/health/ready`)).toMatchObject({
      status: 503,
      body: { ready: false, role: 'standby' },
    });
    expect((await fetch(`${b.url}/runs`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(
      503,
    );
    expect((await getJson(`${a.url}/health/ready`)).status).toBe(200);
  });

  it('moves the run to the standby when the active coordinator is SIGKILLed mid-round; every round once', async () => {
    const admin = (url: string) => new AdminClient(url, TOKEN);
    const initialModel = await admin(a.url).uploadModel(await tinyInitialWeights(SEED));
    const plan = demoPlan({ ...PLAN, seed: SEED, sites: SITES.length }, initialModel);
    const created = await admin(a.url).createRun({
      ...plan,
      name: 'failover e2e',
      quorum: { minSites: 2 },
      roundDeadlineSeconds: 90,
      maxRetries: 1,
      evaluation: { final: true, everyKRounds: 0, crossSite: false },
    });
    runId = created.id;
    for (const siteId of SITES) {
      const agent = new SiteProcess({
        siteId,
        kitDir: join(dir, 'kits', 'sites', siteId),
        cohortDir: join(dir, 'cohort', siteId),
        stateDir: join(dir, 'agents', siteId),
        tiny: true,
        runId,
        logLevel: 'info',
        logFile: join(dir, `agent-${siteId}.log`),
        coordinatorUrls: [a.url, b.url],
        approve: [planDigest(created.plan)], // each site consents to this plan (the agent refuses others)
      });
      agents.push(agent);
      spawned.push(agent);
    }
    const sitesAt = (url: string) =>
      fetch(`${url}/sites`, { headers: { authorization: `Bearer ${TOKEN}` } }).then(
        (r) => r.json() as Promise<{ id: string; connected: boolean }[]>,
      );
    await waitFor(
      'the three agents to connect to A',
      async () => {
        const dead = agents.find((agent) => !agent.running);
        if (dead) throw new Error(`the agent of ${dead.spec.siteId} exited; see ${dead.spec.logFile}`);
        return (await sitesAt(a.url)).every((s) => s.connected) || undefined;
      },
      90_000,
      250,
    );
    await admin(a.url).startRun(runId);
    const run = (url: string) =>
      fetch(`${url}/runs/${runId}`, { headers: { authorization: `Bearer ${TOKEN}` } }).then(
        (r) => r.json() as Promise<RunDetail>,
      );
    // Mid-run: the first SSL round is done and a later one is collecting updates.
    const interrupted = await waitFor(
      'a round after the first to be collecting updates',
      async () => {
        const d = await run(a.url);
        if (d.state !== 'running') throw new Error(`the run ended (${d.state}) before A was killed`);
        return d.rounds.find((r) => r.state === 'collecting' && !(r.stage === 'ssl' && r.round === 0));
      },
      90_000,
      50,
    );
    await a.kill('SIGKILL');

    await b.active; // B held the port as a standby; now it listens as the coordinator
    const done = await waitFor(
      'the run to end on B',
      async () => {
        const d = await run(b.url);
        return d.state === 'running' ? undefined : d;
      },
      100_000,
      250,
    );
    expect(done.reason).toBeUndefined();
    expect(done.state).toBe('completed');
    // The run ledger: each round once, in order, all done; the interrupted one resumed on B.
    expect(done.rounds.map((r) => `${r.stage}/${r.round}/${r.state}`)).toEqual(completedLedger(PLAN));
    expect(
      done.rounds.find((r) => r.stage === interrupted.stage && r.round === interrupted.round),
    ).toMatchObject({ reason: 'resumed after a coordinator restart' });
    // No site's update counted twice in any round.
    const db = new Client({ connectionString: dbUrl });
    await db.connect();
    try {
      const twice = await db.query(
        `SELECT stage, round, site_id, count(*) AS n FROM updates
          WHERE run_id = $1 AND status = 'aggregated' GROUP BY stage, round, site_id HAVING count(*) > 1`,
        [runId],
      );
      expect(twice.rows).toEqual([]);
    } finally {
      await db.end();
    }
    // Nobody restarted the agents: each moves to B on its own (one in a long backoff may come back
    // only after the quorum of the others finished the run).
    for (const agent of agents) {
      await waitFor(
        `${agent.spec.siteId} to connect to B`,
        () => {
          if (!agent.running) throw new Error(`the agent of ${agent.spec.siteId} exited`);
          return readFileSync(agent.spec.logFile, 'utf8').includes(`connected to ${b.url}`) || undefined;
        },
        60_000,
        250,
      );
    }
  });

  it('starts the old active again as the standby of the new one', async () => {
    const again = await start(specOf(portA, 'a-again', 'standby'));
    expect((await getJson(`${again.url}/health/ready`)).status).toBe(503);
    expect((await getJson(`${b.url}/health/ready`)).status).toBe(200);
  });
});
