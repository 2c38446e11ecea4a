import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { InputError, Log, packageRoot } from '../../../../libs/common/src';
import { modelConfig, TINY_MODEL } from '../../../../libs/model/src/network/config';
import { AdminClient, RunView } from './admin-client';
import { initialWeights } from './initial-model';
import { buildReport, DemoReport } from './report';
import { planDigest } from '../../../../libs/protocol/src/consent';
import { SiteProcess } from './site-processes';

export interface DemoOptions {
  outDir: string;
  sites: number;
  /** Hospitals to use instead of generating synthetic ones (site id = folder name). */
  cohorts?: CohortSite[];
  /** The run plan file; default configs/plans/quick.yaml. */
  planFile?: string;
  patients: number;
  quick: boolean;
  /** Round counts; undefined keeps configs/plans/quick.yaml's. */
  sslRounds?: number;
  finetuneRounds?: number;
  seed: number;
  logLevel: string;
  backend?: string;
  /** Give up (stop the run) after this long. */
  timeoutS: number;
  /** The coordinator's database: a SQLite file or a postgresql:// URL (default: a file in the run folder). */
  db?: string;
  log: Log;
  print: (line: string) => void;
  /** Aborting (Ctrl-C) stops the run, the agents and the coordinator, and still writes the report. */
  signal?: AbortSignal;
  /** The coordinator's port (default: one the OS picks). */
  port?: number;
  /** The admin token (default: a random one for this demo). */
  adminToken?: string;
  /**
   * Called once the run exists and every site is connected, before it starts; the run waits
   * for it (a test opens the dashboard here, so it watches the whole run whatever its speed).
   */
  onRunCreated?: (live: DemoLive) => Promise<void>;
  /**
   * Called with the finished run's report while the coordinator and the agents are still up
   * (`demo --serve` waits here until Ctrl-C); everything is closed once it resolves.
   */
  afterRun?: (live: DemoLive, outcome: DemoOutcome) => Promise<void>;
}

/** Where the demo's coordinator answers, for the dashboard and tests. */
export interface DemoLive {
  url: string;
  dashboardUrl: string;
  adminToken: string;
  runId: string;
  siteIds: string[];
}

export interface DemoOutcome {
  report: DemoReport;
  runDir: string;
}

/**
 * The whole federation on one machine: synthetic hospitals, provisioned kits, the coordinator
 * in this process, one agent child process per site, a run from configs/plans/quick.yaml
 * started from freshly uploaded initial weights, and a report from the coordinator's results.
 */
export async function runDemo(o: DemoOptions): Promise<DemoOutcome> {
  const started = Date.now();
  const outDir = resolve(o.outDir);
  const cohortRoot = join(outDir, 'cohort');
  const siteDirs = o.cohorts ?? (await ensureCohort(cohortRoot, o));
  const siteIds = siteDirs.map((d) => d.id);

  const runDir = join(outDir, `demo-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  mkdirSync(runDir, { recursive: true });
  const { provision } = await import('../../../../libs/protocol/src');
  const { startCoordinator } = await import('../../../coordinator/src/create-app');

  const token = o.adminToken ?? randomBytes(24).toString('hex');
  // Provisioned with a placeholder URL: the real port is only known once the coordinator listens.
  const kitDir = join(runDir, 'kits');
  provision({ outDir: kitDir, coordinatorUrl: 'http://127.0.0.1:1', siteIds, log: o.log });
  const coordinator = await startCoordinator({
    dbFile: o.db ?? join(runDir, 'coordinator.sqlite'),
    kitDir,
    dataDir: join(runDir, 'coordinator-data'),
    host: '127.0.0.1',
    port: o.port ?? 0,
    adminToken: token,
    log: o.log,
  });
  const agents: SiteProcess[] = [];
  try {
    o.print(`coordinator ${coordinator.url} (run dir ${runDir})`);
    for (const id of siteIds) pointKitAt(join(kitDir, 'sites', id), coordinator.url);
    const admin = new AdminClient(coordinator.url, token);

    const weights = await initialWeights(o.quick ? TINY_MODEL : {}, o.seed, {
      backend: o.backend,
      log: o.log,
    });
    const initialModel = await admin.uploadModel(weights);
    o.print(`initial model ${initialModel.slice(0, 16)}… (${weights.length.toLocaleString('en-US')} bytes)`);

    const run = await admin.createRun(demoPlan(o, initialModel));
    for (const site of siteDirs) {
      agents.push(
        new SiteProcess({
          siteId: site.id,
          kitDir: join(kitDir, 'sites', site.id),
          cohortDir: site.dir,
          stateDir: join(runDir, 'agents', site.id),
          tiny: o.quick,
          runId: run.id,
          logLevel: o.logLevel,
          backend: o.backend,
          logFile: join(runDir, `agent-${site.id}.log`),
          // The demo's hospitals approve the plan the demo just created (a real site reviews it first).
          approve: [planDigest(run.plan)],
          // Synthetic hospitals have nothing to hide: their counts fill the dashboard's Sites page.
          // Folders given with --cohort are someone's data, so the demo does not report those.
          reportCohort: !o.cohorts,
        }),
      );
    }
    await waitForSites(coordinator.url, token, siteIds.length, agents, o);
    const live: DemoLive = {
      url: coordinator.url,
      dashboardUrl: `${coordinator.url}/ui`,
      adminToken: token,
      runId: run.id,
      siteIds,
    };
    await o.onRunCreated?.(live);
    await admin.startRun(run.id);
    const stages = run.plan.stages;
    o.print(
      `run ${run.id} started: ${stages.ssl?.rounds ?? 0} SSL + ${stages.finetune?.rounds ?? 0} fine-tune round(s), ${siteIds.length} sites`,
    );
    const final = await followRun(admin, run.id, agents, o);
    const results = await admin.results(run.id);
    const report = buildReport(
      final,
      results,
      siteIds,
      (id) => join(runDir, 'agents', id, 'messages.jsonl'),
      (Date.now() - started) / 1000,
    );
    await o.afterRun?.(live, { report, runDir });
    return { report, runDir };
  } finally {
    await Promise.all(agents.map((a) => a.stop()));
    await coordinator.close();
  }
}

export interface CohortSite {
  id: string;
  dir: string;
}

/**
 * Reuses DIR/cohort when it holds enough sites made with this seed, patient count and scale
 * (a cohort left by an older default would silently change what the demo measures), else generates it.
 */
async function ensureCohort(cohortRoot: string, o: DemoOptions): Promise<CohortSite[]> {
  const existing = sameCohort(cohortRoot, o)
    ? readdirSync(cohortRoot, { withFileTypes: true })
        .filter((d) => d.isDirectory() && existsSync(join(cohortRoot, d.name, 'manifest.csv')))
        .map((d) => ({ id: d.name, dir: join(cohortRoot, d.name) }))
        .sort((a, b) => a.id.localeCompare(b.id))
    : [];
  if (existing.length >= o.sites) {
    o.print(`reusing ${o.sites} synthetic site(s) in ${cohortRoot}`);
    return existing.slice(0, o.sites);
  }
  o.print(`generating ${o.sites} synthetic hospitals × ${o.patients} patients in ${cohortRoot}…`);
  const { generateCohort } = await import('../../../../libs/imaging/src');
  const summary = await generateCohort({
    outDir: cohortRoot,
    sites: o.sites,
    patients: o.patients,
    seed: o.seed,
    scale: o.quick ? 0.3 : 1,
    force: true,
    log: o.log,
  });
  return summary.sites.map((s) => ({ id: s.profile.name, dir: s.dir }));
}

/** Whether DIR/cohort/synth.json says it was generated with the seed, patients and scale asked for. */
function sameCohort(cohortRoot: string, o: DemoOptions): boolean {
  const file = join(cohortRoot, 'synth.json');
  if (!existsSync(file)) return false;
  try {
    const made = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    return made.seed === o.seed && made.patientsPerSite === o.patients && made.scale === (o.quick ? 0.3 : 1);
  } catch {
    return false;
  }
}

/** Kits name the coordinator URL; the demo's port is chosen by the OS, so write it in afterwards. */
function pointKitAt(siteKitDir: string, url: string): void {
  const file = join(siteKitDir, 'kit.json');
  const kit = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  kit.coordinatorUrl = url;
  writeFileSync(file, JSON.stringify(kit, null, 2) + '\n');
}

/** The plan file (default configs/plans/quick.yaml) with the demo's round counts, seed and uploaded initial model. */
export function demoPlan(
  o: Pick<DemoOptions, 'sslRounds' | 'finetuneRounds' | 'seed' | 'sites' | 'planFile'> & { quick?: boolean },
  initialModel: string,
): Record<string, unknown> {
  const file = o.planFile ?? join(packageRoot(), 'configs', 'plans', 'quick.yaml');
  if (!existsSync(file)) throw new InputError(`--plan ${file}: no such file`);
  const plan = parseYaml(readFileSync(file, 'utf8')) as {
    stages: { ssl?: { rounds: number }; finetune?: { rounds: number } };
    quorum?: { minSites: number };
  } & Record<string, unknown>;
  if (plan.stages.ssl && o.sslRounds !== undefined) plan.stages.ssl.rounds = o.sslRounds;
  if (plan.stages.finetune && o.finetuneRounds !== undefined) plan.stages.finetune.rounds = o.finetuneRounds;
  if (plan.quorum) plan.quorum.minSites = Math.min(plan.quorum.minSites, o.sites);
  if (o.sslRounds === 0) delete plan.stages.ssl;
  // The network config travels with the run, so `models export` can rebuild its models; only
  // when the caller says which one its agents run (`quick`: the tiny model).
  const model = o.quick === undefined ? {} : { model: { ...modelConfig(o.quick ? TINY_MODEL : {}) } };
  return { ...plan, name: 'phcc-fed demo', seed: o.seed, initialModel, ...model };
}

/** Waits until every site is connected (GET /sites says so), failing fast if an agent dies. */
async function waitForSites(
  url: string,
  token: string,
  count: number,
  agents: SiteProcess[],
  o: DemoOptions,
): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const dead = agents.find((a) => !a.running);
    if (dead) {
      throw new InputError(`the agent of ${dead.spec.siteId} exited early; see ${dead.spec.logFile}`);
    }
    const response = await fetch(`${url}/sites`, { headers: { authorization: `Bearer ${token}` } });
    const sites = (await response.json()) as { connected?: boolean }[];
    const connected = sites.filter((s) => s.connected).length;
    if (connected >= count) {
      o.print(`${connected} site(s) connected`);
      return;
    }
    if (Date.now() > deadline)
      throw new InputError(`only ${connected} of ${count} sites connected within 120 s`);
    await sleep(500);
  }
}

/** Polls the run, printing each round as it closes, until it ends (or the timeout stops it). */
async function followRun(
  admin: AdminClient,
  runId: string,
  agents: SiteProcess[],
  o: DemoOptions,
): Promise<RunView> {
  const deadline = Date.now() + o.timeoutS * 1000;
  const reported = new Set<string>();
  for (;;) {
    const run = await admin.getRun(runId);
    for (const round of run.rounds) {
      const key = `${round.stage}/${round.round}`;
      if ((round.state === 'done' || round.state === 'failed') && !reported.has(key)) {
        reported.add(key);
        o.print(`  ${round.stage} round ${round.round}: ${round.state}`);
      }
    }
    if (['completed', 'failed', 'stopped'].includes(run.state)) return run;
    if (agents.every((a) => !a.running)) {
      return admin.stopRun(runId, 'every site agent exited');
    }
    if (o.signal?.aborted) return admin.stopRun(runId, 'demo interrupted');
    if (Date.now() > deadline) return admin.stopRun(runId, `demo timeout (${o.timeoutS} s)`);
    await sleep(1_000);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
