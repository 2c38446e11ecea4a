import { Command, Option } from 'commander';
import { SingleBar } from 'cli-progress';
import { InputError } from '../../../../libs/common/src';
import {
  CohortSummary,
  ContrastAgent,
  generateCohort,
  IMAGE_FEATURES,
  ImageFeature,
  imageFeatureReport,
  ImageFeatureReport,
  PHENOTYPE_FEATURES,
  separabilityReport,
  SeparabilityReport,
  SYNTH_VAL_FRACTION,
} from '../../../../libs/imaging/src/synth';
import { commandLogger } from '../context';

interface SynthCliOptions {
  out: string;
  sites: string;
  patients: string;
  seed: string;
  labelledFraction?: string;
  valFraction: string;
  force?: boolean;
  json?: boolean;
  report?: boolean;
  gzipLevel: string;
  scale: string;
  threads?: string;
  agent: string;
}

/** `phcc-fed synth`: write a synthetic multi-centre DCE-MRI consortium, one directory per hospital. */
export function registerSynth(program: Command): void {
  program
    .command('synth')
    .summary('generate synthetic multi-centre DCE-MRI cohorts (NIfTI + manifest.csv)')
    .description(
      'Writes, per site, what a hospital would prepare: DIR/site-a/manifest.csv and\n' +
        'DIR/site-a/images/<id>_dce.nii.gz (4-D: x, y, z, 6 phases, or 4 with --agent extracellular)\n' +
        '+ <id>_mask.nii.gz.\n' +
        'Physics (Parker AIF, extended Tofts, dual-input liver, gadoxetate uptake, SPGR signal),\n' +
        'phenotype tendencies and site differences are documented in docs/SYNTHETIC.md.\n' +
        'The ground truth (DIR/ground-truth.csv, DIR/synth.json) is written beside the sites, not in them.\n' +
        'Deterministic for a given seed.',
    )
    .requiredOption('--out <dir>', 'output directory (one sub-directory per site)')
    .option('--sites <n>', 'number of sites (hospitals)', '3')
    .option('--patients <n>', 'patients per site', '120')
    .option('--seed <s>', 'random seed (same seed = same bytes)', '1')
    .option(
      '--labelled-fraction <f>',
      'share of each site’s training patients that carry a label (default: each site draws 0.4–0.8)',
    )
    .option(
      '--val-fraction <f>',
      'share of each class per site held out, labelled, as the validation split (thresholds are chosen on it; 0 = none)',
      String(SYNTH_VAL_FRACTION),
    )
    .option('--force', 'replace existing non-empty site directories')
    .option(
      '--scale <f>',
      'voxel-count scale 0.25–1: fewer, larger voxels over the same field of view (quick demos, CI)',
      '1',
    )
    .option('--threads <n>', 'worker threads rendering patients (default: one per core; 0 = in-process)')
    .addOption(
      new Option(
        '--agent <agent>',
        'contrast agent: gadoxetate (6 phases, hepatobiliary uptake) or extracellular (4 phases: pre, arterial, portal venous, delayed)',
      )
        .choices(['gadoxetate', 'extracellular'])
        .default('gadoxetate'),
    )
    .option('--report', 'also print how separable the classes are (per-feature and oracle AUC)')
    .option('--json', 'end the output with one JSON line (sites, counts, paths, report)')
    .addOption(new Option('--gzip-level <n>', 'gzip level of the NIfTI files (0–9)').default('1').hideHelp())
    .action(async (opts: SynthCliOptions, cmd: Command) => {
      const log = commandLogger(cmd);
      const sites = parseInteger(opts.sites, '--sites');
      const patients = parseInteger(opts.patients, '--patients');
      const bar =
        process.stderr.isTTY && !opts.json
          ? new SingleBar({ format: 'synth {bar} {value}/{total} patients ({site})', stream: process.stderr })
          : undefined;
      bar?.start(sites * patients, 0, { site: '' });
      const started = performance.now();
      let done = 0;
      const summary = await generateCohort({
        outDir: opts.out,
        sites,
        patients,
        seed: parseInteger(opts.seed, '--seed'),
        labelledFraction:
          opts.labelledFraction === undefined
            ? undefined
            : parseNumber(opts.labelledFraction, '--labelled-fraction'),
        valFraction: parseNumber(opts.valFraction, '--val-fraction'),
        force: Boolean(opts.force),
        scale: parseNumber(opts.scale, '--scale'),
        gzipLevel: parseInteger(opts.gzipLevel, '--gzip-level'),
        log,
        measureImages: Boolean(opts.report),
        agent: opts.agent as ContrastAgent,
        threads: opts.threads === undefined ? undefined : parseInteger(opts.threads, '--threads'),
        onPatient: (site) => bar?.update(++done, { site: site.name }),
      }).finally(() => bar?.stop());
      const seconds = (performance.now() - started) / 1000;
      printSummary(summary, seconds);
      const report = opts.report
        ? {
            latent: separabilityReport(summary.truth.map((t) => t.phenotype)),
            image: imageFeatureReport(
              summary.truth.map((t) => t.imageFeatures!),
              summary.truth.map((t) => t.phenotype.proliferative),
            ),
          }
        : undefined;
      if (report) printReport(report.latent, report.image);
      if (opts.json) {
        process.stdout.write(
          JSON.stringify({
            outDir: summary.outDir,
            seed: summary.seed,
            seconds: Number(seconds.toFixed(2)),
            sites: summary.sites.map((s) => ({
              name: s.profile.name,
              manifest: s.manifestPath,
              patients: s.patients,
              labelled: s.labelled,
              positives: s.positives,
              train: s.train,
              val: s.val,
              test: s.test,
              fieldStrength: s.profile.fieldStrength,
              inPlaneMm: s.profile.inPlaneMm,
              sliceMm: s.profile.sliceMm,
              matrix: [s.profile.matrix, s.profile.matrix, s.profile.slices],
            })),
            ...(report ? { report } : {}),
          }) + '\n',
        );
      }
    });
}

function parseInteger(text: string, name: string): number {
  const v = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(v)) {
    throw new InputError(`${name} must be a whole number (got "${text}")`);
  }
  return v;
}

function parseNumber(text: string, name: string): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v))
    throw new InputError(`${name} must be a number (got "${text}")`);
  return v;
}

function printSummary(summary: CohortSummary, seconds: number): void {
  const out = (line: string) => process.stdout.write(line + '\n');
  out(
    `wrote ${summary.sites.length} site(s) to ${summary.outDir} in ${seconds.toFixed(1)} s (seed ${summary.seed})`,
  );
  out('site      patients  labelled  positives  train/val/test  field  in-plane  slice  matrix');
  for (const s of summary.sites) {
    const p = s.profile;
    out(
      [
        p.name.padEnd(8),
        String(s.patients).padStart(8),
        String(s.labelled).padStart(9),
        String(s.positives).padStart(10),
        `${s.train}/${s.val}/${s.test}`.padStart(15),
        `${p.fieldStrength} T`.padStart(6),
        `${p.inPlaneMm.toFixed(2)} mm`.padStart(9),
        `${p.sliceMm.toFixed(1)} mm`.padStart(6),
        `  ${p.matrix}×${p.matrix}×${p.slices}`,
      ].join(' '),
    );
  }
  for (const s of summary.sites) out(`${s.profile.name}: ${s.manifestPath}`);
  out(`ground truth (not for site agents): ${summary.outDir}/ground-truth.csv, ${summary.outDir}/synth.json`);
}

function printReport(latent: SeparabilityReport, image: ImageFeatureReport): void {
  const out = (line: string) => process.stdout.write(line + '\n');
  out(
    `\nclass separability on this cohort (${latent.patients} patients, ${latent.positives} proliferative):`,
  );
  out('tendency    latent AUC  design  image AUC');
  const fmt = (x: number) => x.toFixed(3).padStart(10);
  for (const f of PHENOTYPE_FEATURES) {
    const fromImage = (IMAGE_FEATURES as readonly string[]).includes(f)
      ? image.featureAuc[f as ImageFeature]
      : NaN;
    out(
      `${f.padEnd(10)}${fmt(latent.featureAuc[f])}${fmt(latent.expectedFeatureAuc[f]).slice(2)}${fmt(fromImage)}`,
    );
  }
  out(
    `${'all'.padEnd(10)}${fmt(latent.oracleAuc)}${fmt(latent.expectedOracleAuc).slice(2)}${fmt(image.combinedAuc)}`,
  );
  out("latent: the generator's parameters (all = true log-likelihood ratio, the oracle);");
  out('image: simple measurements on the written images (all = sum of z-scores, no fitting).');
}
