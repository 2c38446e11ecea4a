import { Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError, PhccError } from '../../../../libs/common/src';
import { commandLogger, globalOptions } from '../context';

interface DemoCommandOptions {
  quick?: boolean;
  sites: string;
  patients?: string;
  sslRounds?: string;
  finetuneRounds?: string;
  seed: string;
  out: string;
  timeout: string;
  json?: boolean;
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
        "--quick: the tiny model, 0.3-scale images, 100 patients per hospital, the plan's rounds.",
    )
    .option('--quick', 'tiny model, small images (a minute or two on 2 cores)')
    .option('--sites <n>', 'synthetic hospitals', '3')
    .option('--patients <n>', 'patients per hospital (default: 100 with --quick, else 60)')
    .option('--ssl-rounds <n>', 'SSL rounds (default: the plan’s)')
    .option('--finetune-rounds <n>', 'fine-tune rounds (default: the plan’s)')
    .option('--seed <n>', 'seed of the cohort, the initial weights and the plan', '1')
    .option('--out <dir>', 'output directory', 'runs')
    .option('--timeout <s>', 'stop the run after this many seconds', '3600')
    .option(
      '--db <file|url>',
      'coordinator database: SQLite file or postgresql:// URL (default: OUT/demo-<time>/coordinator.sqlite)',
    )
    .option('--json', 'end the output with one JSON line (the report)')
    .action(async (opts: DemoCommandOptions, cmd: Command) => {
      const quick = Boolean(opts.quick);
      const sites = count(opts.sites, '--sites', 2);
      // 100 patients a site (≈ 30–55 labelled for training): with 40 the tiny model stayed at chance.
      const patients = count(opts.patients ?? (quick ? '100' : '60'), '--patients', 6);
      const sslRounds = roundsOption(opts.sslRounds, '--ssl-rounds', 0);
      const finetuneRounds = roundsOption(opts.finetuneRounds, '--finetune-rounds', 1);
      const seed = count(opts.seed, '--seed', 0);
      const timeoutS = count(opts.timeout, '--timeout', 1);
      const { logLevel, backend } = globalOptions(cmd);
      const out = (line: string) => process.stdout.write(line + '\n');
      const { runDemo } = await import('../demo/run-demo');
      const { reportMarkdown, reportTable } = await import('../demo/report');
      const abort = new AbortController();
      const interrupt = () => {
        out('interrupted: stopping the run, the agents and the coordinator…');
        abort.abort();
      };
      process.once('SIGINT', interrupt);
      process.once('SIGTERM', interrupt);
      const { report, runDir } = await runDemo({
        signal: abort.signal,
        outDir: opts.out,
        sites,
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
      mkdirSync(runDir, { recursive: true });
      writeFileSync(join(runDir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
      writeFileSync(join(runDir, 'report.md'), reportMarkdown(report));
      out('');
      for (const line of reportTable(report)) out(line);
      out(
        `pooled AUC ${report.pooled_auc === null ? 'n/a' : report.pooled_auc.toFixed(3)}; ` +
          `${report.rounds} training round(s); run ${report.state}; wall ${report.wall_s} s`,
      );
      out(`report: ${join(runDir, 'report.md')}`);
      if (opts.json) out(JSON.stringify(report));
      if (report.state !== 'completed') {
        throw new PhccError(
          `the run ended ${report.state}${report.reason ? `: ${report.reason}` : ''}`,
          'DEMO_RUN',
          1,
        );
      }
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
