import { Command } from 'commander';
import { basename, resolve } from 'node:path';
import { InputError, PhccError } from '../../../../libs/common/src';
import { checkAdminToken } from '../../../coordinator/src/auth/admin-token';
import { commandLogger, globalOptions } from '../context';
import type { DemoLive, DemoOutcome } from '../demo/run-demo';
import { checkCohortPath } from './model-inputs';

interface DemoCommandOptions {
  quick?: boolean;
  sites: string;
  patients?: string;
  sslRounds?: string;
  finetuneRounds?: string;
  seed: string;
  out: string;
  timeout: string;
  cohort?: string[];
  plan?: string;
  json?: boolean;
  serve?: boolean;
  port?: string;
  db?: string;
}

/**
 * `phcc-fed demo` (= `npm run demo`): a whole federated run on this machine, through the same
 * kits, coordinator, agents and admin API a consortium uses — the quickest proof that it all works.
 */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .summary('run a complete federation locally: synthetic hospitals, coordinator, one agent per site')
    .description(
      'Generates synthetic hospitals in OUT/cohort (reused when present), provisions kits, starts the\n' +
        'coordinator in this process on 127.0.0.1 and one "phcc-fed agent" child process per site, uploads\n' +
        'freshly initialised weights (POST /models), runs configs/plans/quick.yaml from them, and prints\n' +
        "per-site AUC (95 % CI), pooled AUC, rounds, each site's bytes sent and the wall time. Writes\n" +
        'OUT/demo-<time>/report.json and report.md (plus agent logs, kits, coordinator database).\n' +
        "--quick: the tiny model, 0.3-scale images, 100 patients per hospital, the plan's rounds.\n" +
        '--cohort DIR…: real (or earlier generated) hospitals instead; with --plan and --seed the run ends\n' +
        'with the same final_model_digest as "phcc-fed simulate" on the same plan, cohorts and seed.',
    )
    .option('--quick', 'tiny model, small images (a minute or two on 2 cores)')
    .option('--sites <n>', 'synthetic hospitals', '3')
    .option('--patients <n>', 'patients per hospital (default: 100 with --quick, else 60)')
    .option('--ssl-rounds <n>', 'SSL rounds (default: the plan’s)')
    .option('--finetune-rounds <n>', 'fine-tune rounds (default: the plan’s)')
    .option('--seed <n>', 'seed of the cohort, the initial weights and the plan', '1')
    .option(
      '--cohort <dir...>',
      'use these hospitals (one cohort folder each; site id = folder name) instead of synthetic ones',
    )
    .option('--plan <file>', 'run plan (YAML or JSON; default configs/plans/quick.yaml)')
    .option('--out <dir>', 'output directory', 'runs')
    .option('--timeout <s>', 'stop the run after this many seconds', '3600')
    .option(
      '--db <file|url>',
      'coordinator database: SQLite file or postgresql:// URL (default: OUT/demo-<time>/coordinator.sqlite)',
    )
    .option('--json', 'end the output with one JSON line (the report)')
    .option('--serve', 'keep the coordinator and its dashboard (/ui) up after the run, until Ctrl-C')
    .option('--port <p>', "the coordinator's port (default: a free one)")
    .action(async (opts: DemoCommandOptions, cmd: Command) => {
      const quick = Boolean(opts.quick);
      const cohorts = opts.cohort?.map((dir) => ({ id: basename(resolve(dir)), dir: checkCohortPath(dir) }));
      if (cohorts && new Set(cohorts.map((c) => c.id)).size !== cohorts.length)
        throw new InputError('--cohort: two folders have the same name (the site id is the folder name)');
      const sites = cohorts ? cohorts.length : count(opts.sites, '--sites', 2);
      // 100 patients a site (≈ 30–55 labelled for training): with 40 the tiny model stayed at chance.
      const patients = count(opts.patients ?? (quick ? '100' : '60'), '--patients', 6);
      const sslRounds = roundsOption(opts.sslRounds, '--ssl-rounds', 0);
      const finetuneRounds = roundsOption(opts.finetuneRounds, '--finetune-rounds', 1);
      const seed = count(opts.seed, '--seed', 0);
      const timeoutS = count(opts.timeout, '--timeout', 1);
      const port = opts.port === undefined ? undefined : count(opts.port, '--port', 1);
      if (port !== undefined && port > 65535)
        throw new InputError(`--port must be at most 65535 (got ${port})`);
      // The demo's admin token: PHCC_ADMIN_TOKEN when set (what --serve tells the user to sign in with).
      const adminToken = process.env.PHCC_ADMIN_TOKEN || undefined;
      if (adminToken !== undefined) checkAdminToken(adminToken);
      const { logLevel, backend } = globalOptions(cmd);
      const out = (line: string) => process.stdout.write(line + '\n');
      const { runDemo } = await import('../demo/run-demo');
      const { writeAndPrintReport } = await import('../demo/report');
      const abort = new AbortController();
      const interrupt = () => {
        out('interrupted: stopping the run, the agents and the coordinator…');
        abort.abort();
      };
      process.once('SIGINT', interrupt);
      process.once('SIGTERM', interrupt);
      const finish = (outcome: DemoOutcome) =>
        writeAndPrintReport(outcome.report, outcome.runDir, Boolean(opts.json), out);
      let printed = false;
      const { report, runDir } = await runDemo({
        port,
        adminToken,
        afterRun: opts.serve
          ? async (live, outcome) => {
              finish(outcome);
              printed = true;
              await serveUntilInterrupted(live, adminToken !== undefined, out);
            }
          : undefined,
        signal: abort.signal,
        outDir: opts.out,
        sites,
        cohorts,
        planFile: opts.plan ? resolve(opts.plan) : undefined,
        patients,
        quick,
        sslRounds,
        finetuneRounds,
        seed,
        logLevel: logLevel === 'info' ? 'warn' : logLevel,
        backend,
        timeoutS,
        db: opts.db,
        log: commandLogger(cmd),
        print: out,
      }).finally(() => {
        process.removeListener('SIGINT', interrupt);
        process.removeListener('SIGTERM', interrupt);
      });
      if (!printed) finish({ report, runDir });
      if (report.state !== 'completed') {
        throw new PhccError(
          `the run ended ${report.state}${report.reason ? `: ${report.reason}` : ''}`,
          'DEMO_RUN',
          1,
        );
      }
    });
}

/** `--serve`: says where the dashboard is and how to sign in, then waits for Ctrl-C. */
function serveUntilInterrupted(
  live: DemoLive,
  tokenFromEnv: boolean,
  out: (line: string) => void,
): Promise<void> {
  out('');
  out(`dashboard: ${live.dashboardUrl}  (run ${live.runId}: ${live.dashboardUrl}#/runs/${live.runId})`);
  out(
    tokenFromEnv
      ? 'sign in with the admin token in PHCC_ADMIN_TOKEN'
      : `sign in with this demo's admin token: ${live.adminToken}  (set PHCC_ADMIN_TOKEN to choose it)`,
  );
  out('the coordinator stays up until Ctrl-C');
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

/** Explicit value, else undefined (configs/plans/quick.yaml's own count). */
function roundsOption(text: string | undefined, flag: string, min: number): number | undefined {
  return text === undefined ? undefined : count(text, flag, min);
}

function count(text: string, flag: string, min: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min)
    throw new InputError(`${flag} must be an integer ≥ ${min} (got "${text}")`);
  return n;
}
