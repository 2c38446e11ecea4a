import { Command } from 'commander';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { InputError, Log } from '../../../../libs/common/src';
import type { ModelConfig } from '../../../../libs/model/src/network/config';
import { parseArmKinds, parseSslMode, parseStrategies, replicateSeeds } from '../compare/arms';
import { DEFAULT_RECIPE, QUICK_RECIPE, recipeWithEpochs } from '../compare/budget';
import type { CompareReport } from '../compare/report';
import type { CompareSite } from '../compare/train-arms';
import { backendOptions, commandLogger, globalOptions } from '../context';
import { agentModelConfig } from './agent';
import { checkCohortPath, parseInteger } from './model-inputs';

interface CompareCommandOptions {
  cohort?: string[];
  external?: string[];
  arms: string;
  ssl: string;
  strategy: string;
  seeds: string;
  seed: string;
  quick?: boolean;
  tiny?: boolean;
  modelConfig?: string;
  sites?: string;
  patients?: string;
  labelledFraction?: string[];
  sslEpochs?: string;
  finetuneEpochs?: string;
  out: string;
  json?: boolean;
}

/**
 * `phcc-fed compare`: is the federated model as good as pooling the images, and better than each
 * hospital alone? Trains the central, federated and local-only arms on the same splits with the
 * same budget, scores them on every site's test split and the external cohorts, and combines the
 * sites' paired aggregates into differences with CIs (docs/MODEL.md, "Federated vs central").
 */
export function registerCompare(program: Command): void {
  program
    .command('compare')
    .summary('federated vs central vs local-only training, paired on the same test patients')
    .description(
      'Trains, on the same splits (the cohorts’ manifests) and the same budget (docs/MODEL.md), the\n' +
        'central arm (training sites pooled, as `train`), one federated arm per --strategy (the plan of the\n' +
        'budget rule through the round engine in process, as `simulate`) and a local-only arm per site, each\n' +
        'with and/or without SSL; evaluates every arm on every site’s test split and on --external cohorts;\n' +
        'reports per-site and pooled AUC with 95 % CI, sensitivity/specificity/PPV/NPV/accuracy at a cut-off\n' +
        'fixed on the validation split (transferred to sites that did not train the arm), and the paired\n' +
        'differences federated − central, federated − best local and SSL − no-SSL (diff, 95 % CI, p) from\n' +
        'per-site DeLong aggregates.\n' +
        'Writes OUT/compare-<time>/report.json, report.md and a self-contained report.html.',
    )
    .option('--cohort <dir...>', 'one cohort folder per training site (site id = folder name)')
    .option('--external <dir...>', 'cohorts only evaluated on (every labelled patient)')
    .option('--arms <list>', 'arms to train: central,federated,local', 'central,federated,local')
    .option('--ssl <mode>', 'both | on | off: with SSL pre-training, without, or both', 'both')
    .option(
      '--strategy <list>',
      "federated strategies, one arm each: fedavg,fedprox,fedbn (FedBN is evaluated with each site's own normalisation layers)",
      'fedavg',
    )
    .option('--seeds <n>', 'replicates (seeds --seed, --seed+1, …); figures are means ± SD', '1')
    .option('--seed <n>', 'first seed', '1')
    .option(
      '--quick',
      'tiny model and a smoke budget (2 SSL + 6 fine-tune epochs); without --cohort, generates 3 synthetic sites (train/val/test splits)',
    )
    .option('--tiny', 'the tiny test model (32×32 crops); not for real use')
    .option('--model-config <file>', 'JSON file of model config overrides (default: the full-size model)')
    .option('--sites <n>', 'synthetic sites generated when no --cohort is given (default 3)')
    .option('--patients <n>', 'patients per generated synthetic site (default 100 with --quick, else 120)')
    .option(
      '--labelled-fraction <f...>',
      "keep this stratified share of each training site's labels (same patients for every arm; the rest serve SSL only); several values: one comparison each and a curve of pooled AUC against the fraction",
    )
    .option('--ssl-epochs <n>', 'SSL epochs of every arm (federated: rounds × local epochs)')
    .option('--finetune-epochs <n>', 'fine-tune epochs of every arm (federated: rounds × local epochs)')
    .option('--out <dir>', 'output directory', 'runs')
    .option('--json', 'end the output with one JSON line (arms, comparisons, seeds, wall_s)')
    .action(async (opts: CompareCommandOptions, cmd: Command) => {
      const started = Date.now();
      const log = commandLogger(cmd);
      const print = (line: string) => process.stdout.write(line + '\n');
      const kinds = parseArmKinds(opts.arms);
      const ssl = parseSslMode(opts.ssl);
      const strategies = parseStrategies(opts.strategy);
      const seeds = replicateSeeds(parseInteger(opts.seed, '--seed'), parseInteger(opts.seeds, '--seeds', 1));
      const config = agentModelConfig({ tiny: opts.tiny || opts.quick, modelConfig: opts.modelConfig });
      const recipe = recipeWithEpochs(opts.quick ? QUICK_RECIPE : DEFAULT_RECIPE, {
        ssl: opts.sslEpochs === undefined ? undefined : parseInteger(opts.sslEpochs, '--ssl-epochs', 1),
        finetune:
          opts.finetuneEpochs === undefined
            ? undefined
            : parseInteger(opts.finetuneEpochs, '--finetune-epochs', 1),
      });
      const runDir = join(resolve(opts.out), `compare-${new Date().toISOString().replace(/[:.]/g, '-')}`);
      mkdirSync(runDir, { recursive: true, mode: 0o700 });

      const { initBackend } = await import('../../../../libs/compute/src');
      await initBackend(backendOptions(cmd, log));
      const cohortDirs =
        opts.cohort ?? (await generatedCohorts(opts, seeds[0], resolve(opts.out), log, print));
      const { parseLabelledFractions } = await import('../compare/curve');
      const fractions = parseLabelledFractions(opts.labelledFraction ?? ['1']);
      const { withLabelledFraction } = await import('../compare/train-arms');
      const allLabelled = await loadSites(cohortDirs, false, config, log);
      const external = await loadSites(opts.external ?? [], true, config, log);
      const ids = [...allLabelled, ...external].map((s) => s.site);
      const twice = ids.find((id, i) => ids.indexOf(id) !== i);
      if (twice)
        throw new InputError(
          `--cohort/--external: two folders are named "${twice}" (the site id is the folder name)`,
        );
      if (kinds.includes('federated') && allLabelled.length < 2)
        throw new InputError('--arms federated needs at least two --cohort sites');

      const { runCompare } = await import('../compare/run-compare');
      const { compareHtml, compareJsonLine, compareMarkdown } = await import('../compare/report');
      const runs: { labelled_fraction: number; report: CompareReport }[] = [];
      for (const fraction of fractions) {
        // One fraction: the report in the run folder as ever; several: one folder per fraction.
        const dir = fractions.length === 1 ? runDir : join(runDir, `labelled-${fraction}`);
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        if (fractions.length > 1) print(`labelled fraction ${fraction}`);
        const training = allLabelled.map((s) => (fraction === 1 ? s : withLabelledFraction(s, fraction)));
        const workDir = join(dir, 'work');
        const report = await runCompare({
          config,
          recipe,
          selection: { kinds, ssl, strategies },
          training,
          external,
          seeds,
          workDir,
          configuration: {
            cohorts: training.map((s) => ({ site: s.site, dir: s.dir })),
            external: external.map((s) => ({ site: s.site, dir: s.dir })),
            arms: kinds,
            ssl,
            strategies,
            quick: Boolean(opts.quick),
            labelled_fraction: fraction,
            backend: globalOptions(cmd).backend ?? 'auto',
            budget: recipe,
            budget_rule:
              'federated rounds × local epochs = central epochs; same peak LR, warm-up, head-only epochs, batch size, AdamW weight decay',
            model: config,
          },
          log,
          print,
          // Each fraction's wall time is its own; one fraction's includes loading, as before.
          started: fractions.length === 1 ? started : Date.now(),
        });
        rmSync(workDir, { recursive: true, force: true });
        writeFileSync(join(dir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
        writeFileSync(join(dir, 'report.md'), compareMarkdown(report));
        writeFileSync(join(dir, 'report.html'), compareHtml(report));
        printSummary(report, print);
        runs.push({ labelled_fraction: fraction, report });
      }
      if (runs.length === 1) {
        print(`report: ${join(runDir, 'report.html')} (wall ${runs[0].report.wall_s} s)`);
        if (opts.json) print(JSON.stringify(compareJsonLine(runs[0].report)));
        return;
      }
      const { curveJsonLine, curveMarkdown, labelledFractionCurve } = await import('../compare/curve');
      const curve = labelledFractionCurve(runs);
      const wall = Math.round((Date.now() - started) / 100) / 10;
      writeFileSync(join(runDir, 'curve.json'), JSON.stringify({ curve, wall_s: wall }, null, 2) + '\n');
      writeFileSync(join(runDir, 'curve.md'), curveMarkdown(curve, runs));
      print('');
      for (const c of curve) {
        const points = c.points.map(
          (p) => `${p.labelled_fraction}: ${p.pooled_auc === null ? 'n/a' : p.pooled_auc.toFixed(3)}`,
        );
        print(`${`${c.arm}${c.ssl ? '+ssl' : ''}`.padEnd(28)} ${points.join('  ')}`);
      }
      print(`curve: ${join(runDir, 'curve.md')} (wall ${wall} s)`);
      if (opts.json) print(JSON.stringify(curveJsonLine(runs, curve, wall)));
    });
}

/** The arms' pooled AUCs and the paired differences, as lines for a reader of the console. */
function printSummary(report: CompareReport, print: (line: string) => void): void {
  print('');
  for (const a of report.arms) {
    print(
      `${`${a.arm}${a.ssl ? '+ssl' : ''}`.padEnd(28)} pooled AUC ${a.pooled_auc === null ? 'n/a' : a.pooled_auc.toFixed(3)}` +
        (a.pooled_ci95 ? ` (${a.pooled_ci95[0].toFixed(3)}–${a.pooled_ci95[1].toFixed(3)})` : '') +
        (a.pooled_at_threshold?.sensitivity.mean != null && a.pooled_at_threshold.specificity.mean != null
          ? `; at validation cut-offs sensitivity ${a.pooled_at_threshold.sensitivity.mean.toFixed(3)}, specificity ${a.pooled_at_threshold.specificity.mean.toFixed(3)}`
          : ''),
    );
  }
  for (const c of report.comparisons) {
    print(
      `${c.question} [${c.scope}] ${c.a} − ${c.b}: ${c.diff === null ? 'n/a' : c.diff.toFixed(3)}` +
        (c.ci95 ? ` (${c.ci95[0].toFixed(3)}–${c.ci95[1].toFixed(3)}), p ${c.p?.toFixed(3)}` : ''),
    );
  }
}

/** `--quick` (or no --cohort): synthetic sites (train/val/test) under OUT/compare-cohort-…, regenerated each run. */
async function generatedCohorts(
  opts: CompareCommandOptions,
  seed: number,
  outDir: string,
  log: Log,
  print: (line: string) => void,
): Promise<string[]> {
  if (!opts.quick) throw new InputError('--cohort is required (or --quick, which generates synthetic sites)');
  const sites = parseInteger(opts.sites ?? '3', '--sites', 2);
  const patients = parseInteger(opts.patients ?? '100', '--patients', 6);
  const { generateCohort, SYNTH_VAL_FRACTION } = await import('../../../../libs/imaging/src');
  const root = join(outDir, `compare-cohort-${sites}x${patients}-seed${seed}`);
  print(`generating ${sites} synthetic sites × ${patients} patients in ${root}…`);
  // With `synth`'s validation split: every arm's cut-off is fixed on it, never on the test patients.
  const summary = await generateCohort({
    outDir: root,
    sites,
    patients,
    seed,
    scale: 0.3,
    valFraction: SYNTH_VAL_FRACTION,
    force: true,
    log,
  });
  return summary.sites.map((s) => s.dir);
}

/** Each cohort loaded and normalised with its own training-split statistics (as `train` and the agent). */
async function loadSites(
  dirs: readonly string[],
  external: boolean,
  config: ModelConfig,
  log: Log,
): Promise<CompareSite[]> {
  const { loadCohort } = await import('../../../../libs/imaging/src');
  const { cohortData } = await import('../../../site-agent/src/executors');
  const { checkCohortPhases } = await import('./model-inputs');
  const out: CompareSite[] = [];
  for (const raw of dirs) {
    const option = external ? '--external' : '--cohort';
    const dir = checkCohortPath(raw, option);
    const cohort = await loadCohort(dir, {
      size: config.imageSize,
      slices: config.intensityChannels,
      phases: config.phases,
      nominalPhaseTimes: config.phaseTimes,
      log,
    });
    checkCohortPhases(cohort.report, config, `${option} ${dir}`);
    const samples = await cohortData(cohort)();
    const site = basename(resolve(dir));
    const evaluable = samples.filter(
      (p) => (p.label === 0 || p.label === 1) && (external || p.split === 'test'),
    );
    if (evaluable.length === 0)
      throw new InputError(
        `${option} ${dir}: no labelled ${external ? '' : 'test-split '}patients to evaluate on`,
      );
    if (!external && !samples.some((p) => p.split === 'train'))
      throw new InputError(`${option} ${dir}: no training-split patients`);
    const val = samples.filter((p) => p.split === 'val');
    if (!external && !(val.some((p) => p.label === 0) && val.some((p) => p.label === 1)))
      log.warn(
        `${option} ${dir}: no validation split with both classes; arms this site trains get no cut-off here (sensitivity/specificity not reported)`,
      );
    out.push({ site, dir, samples, external });
  }
  return out;
}
