import { Command } from 'commander';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { InputError, PhccError } from '../../../../libs/common/src';
import { MAX_COMPARED_MODELS } from '../../../../libs/protocol/src/version';
import { backendOptions, commandLogger } from '../context';
import { agentModelConfig } from './agent';
import { checkCohortPath } from './model-inputs';

interface SimulateCommandOptions {
  plan: string;
  cohort: string[];
  tiny?: boolean;
  modelConfig?: string;
  seed?: string;
  out: string;
  json?: boolean;
  compareWith?: string[];
}

/**
 * `phcc-fed simulate`: a whole federation in this process on the production round engine, with
 * each hospital an in-memory site calling the real site executors (no sockets, keys or child
 * processes). With the plan, cohorts, model and seed of a `demo`, it ends with the same final
 * model digest: it is the same engine and the same executors.
 */
export function registerSimulate(program: Command): void {
  program
    .command('simulate')
    .summary('run a federation in one process: the real round engine, sites as in-memory ports')
    .description(
      'Runs the plan (--plan, YAML or JSON as POST /runs takes it) over the hospitals given with --cohort\n' +
        '(one folder per site with manifest.csv; the site id is the folder name) in this process: the\n' +
        "coordinator's round engine, ledger, gate and strategy folds, and each site's real executors, with\n" +
        'time simulated (deadlines never wait). The first global model is freshly initialised from --seed\n' +
        "(default: the plan's seed), which also becomes the plan's seed. Prints per-site AUC, pooled AUC and\n" +
        'the final model digest; writes OUT/simulate-<time>/report.json and report.md and keeps its store.',
    )
    .requiredOption('--plan <file>', 'run plan (YAML or JSON)')
    .requiredOption('--cohort <dir...>', 'one cohort folder per simulated site')
    .option('--tiny', 'the tiny test model (32×32 crops); not for real use')
    .option('--model-config <file>', 'JSON file of model config overrides (default: the full-size model)')
    .option('--seed <n>', "seed of the initial weights and the plan (default: the plan's)")
    .option('--out <dir>', 'output directory', 'runs')
    .option('--json', 'end the output with one JSON line (the report, with final_model_digest)')
    .option(
      '--compare-with <model-dir...>',
      "model folders (as `train` writes them, the run's network) that the final global is compared with on every site's test split: the paired evaluation round (DeLong per site, fixed effect across sites); their digests become the plan's evaluation.compareWith",
    )
    .action(async (opts: SimulateCommandOptions, cmd: Command) => {
      const started = Date.now();
      const log = commandLogger(cmd);
      const out = (line: string) => process.stdout.write(line + '\n');
      const config = agentModelConfig(opts);
      const cohorts = opts.cohort.map((dir) => ({ id: basename(resolve(dir)), dir: checkCohortPath(dir) }));
      const ids = new Set(cohorts.map((c) => c.id));
      if (ids.size !== cohorts.length)
        throw new InputError('--cohort: two folders have the same name (the site id is the folder name)');
      const planFile = resolve(opts.plan);
      if (!existsSync(planFile)) throw new InputError(`--plan ${planFile}: no such file`);
      const { parsePlanText, validatePlan } = await import('../../../coordinator/src/runs/run-plan');
      const raw = parsePlanText(readFileSync(planFile, 'utf8'), `--plan ${planFile}`) as Record<
        string,
        unknown
      >;
      if (opts.seed !== undefined) raw.seed = seedOf(opts.seed);
      const plan = validatePlan(raw, `--plan ${planFile}`);
      if (plan.quorum.minSites > cohorts.length) {
        throw new InputError(
          `--plan ${planFile}: quorum.minSites is ${plan.quorum.minSites} but only ${cohorts.length} --cohort folder(s) were given`,
        );
      }

      const { initBackend } = await import('../../../../libs/compute/src');
      await initBackend(backendOptions(cmd, log));
      const { initialWeights } = await import('../demo/initial-model');
      const { runSimulation } = await import('../simulate/simulation');
      const { InMemorySite } = await import('../simulate/in-memory-site');
      const { loadSiteExecutors } = await import('./site-executors');
      const { simulationReport } = await import('../simulate/report');
      const { writeAndPrintReport } = await import('../demo/report');

      const runDir = join(resolve(opts.out), `simulate-${new Date().toISOString().replace(/[:.]/g, '-')}`);
      mkdirSync(runDir, { recursive: true, mode: 0o700 });
      const sites = [];
      for (const cohort of cohorts) {
        out(`site ${cohort.id}: ${cohort.dir}`);
        const stateDir = join(runDir, 'sites', cohort.id);
        const { executors } = await loadSiteExecutors(cohort.dir, config, stateDir, log, out);
        sites.push(new InMemorySite(cohort.id, executors, stateDir, log));
      }
      const compareModels = await comparedModels(opts.compareWith ?? []);
      const outcome = await runSimulation({
        plan,
        initialModel: await initialWeights(config, plan.seed, { log }),
        ...(compareModels.length ? { compareModels } : {}),
        sites,
        workDir: join(runDir, 'coordinator'),
        log,
        onRound: (r) => out(`  ${r.stage} round ${r.round}: ${r.state}`),
      });
      try {
        const report = await simulationReport(outcome, sites, (Date.now() - started) / 1000);
        writeAndPrintReport(report, runDir, Boolean(opts.json), out);
        if (report.state !== 'completed') {
          throw new PhccError(
            `the simulated run ended ${report.state}${report.reason ? `: ${report.reason}` : ''}`,
            'SIMULATION_RUN',
            1,
          );
        }
      } finally {
        await outcome.store.close();
      }
    });
}

function seedOf(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new InputError(`--seed must be an integer ≥ 0 (got "${text}")`);
  return n;
}

/** The `--compare-with` model folders, encoded as the coordinator stores models (float32). */
async function comparedModels(dirs: readonly string[]): Promise<Uint8Array[]> {
  if (dirs.length > MAX_COMPARED_MODELS)
    throw new InputError(`--compare-with: at most ${MAX_COMPARED_MODELS} models (got ${dirs.length})`);
  const { loadModel } = await import('../../../../libs/model/src/io/checkpoint');
  const { encodeWeights } = await import('../../../../libs/weights/src');
  const encoded: Uint8Array[] = [];
  for (const dir of dirs) {
    const path = resolve(dir);
    if (!existsSync(path)) throw new InputError(`--compare-with ${path}: no such model folder`);
    const { model } = await loadModel(path);
    try {
      encoded.push(encodeWeights(model.params.getWeights(), 'float32'));
    } finally {
      model.dispose();
    }
  }
  return encoded;
}
