/**
 * A whole synthetic consortium on disk: per site, what a hospital would prepare
 * (`DIR/site-x/manifest.csv` + `DIR/site-x/images/*.nii.gz`), and beside the sites — never inside
 * them, so an agent pointed at a site cannot see it — the generator's ground truth
 * (`DIR/ground-truth.csv`, `DIR/synth.json`).
 */
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError, Log, packageVersion, silentLog } from '../../../common/src';
import { assignSplits, Assignment } from './assign';
import { ImageFeature } from './image-features';
import { phaseNamesOf } from './kinetics';
import { PATIENT_STREAMS } from './patient';
import { drawPhenotype, PHENOTYPE_FEATURES, TumourPhenotype } from './phenotype';
import { RenderedPatient } from './render';
import { createRenderPool, RenderPool } from './render-pool';
import { childSeed, SITE_STREAMS, streamRng } from './seeds';
import { ContrastAgent, drawSiteProfile, SiteProfile } from './sites';

export interface SynthOptions {
  outDir: string;
  sites: number;
  /** Patients per site. */
  patients: number;
  seed?: number;
  /** Share of training patients with a label, for every site; default: each site draws its own (0.4–0.8). */
  labelledFraction?: number;
  /** Share of each class held out as the site's test split (default 0.3). */
  testFraction?: number;
  /**
   * Share of each class held out, labelled, as the site's validation split (default 0: none, so
   * cohorts made before validation splits existed regenerate byte for byte; `synth` and
   * `compare --quick` ask for SYNTH_VAL_FRACTION).
   */
  valFraction?: number;
  /**
   * Voxel-count scale (0.25–1, default 1): fewer, larger voxels over the same field of view, for
   * quick demos and CI. 1 gives the realistic matrices of docs/SYNTHETIC.md.
   */
  scale?: number;
  /** Replace existing non-empty site directories (default: refuse, so no data is lost). */
  force?: boolean;
  /** gzip level of the NIfTI files (default 1: the noise does not compress much better at 9). */
  gzipLevel?: number;
  log?: Log;
  /** Also take simple image measurements of every patient (TruthRow.imageFeatures), for reports. */
  measureImages?: boolean;
  /** Worker threads rendering patients (default: one per core when built; 0 = in-process). */
  threads?: number;
  /**
   * Contrast agent of every site (default gadoxetate: six phases); `extracellular` makes the
   * four-phase protocol of an extracellular agent (pre, arterial, portal venous, delayed).
   */
  agent?: ContrastAgent;
  /** Called after each patient is written. */
  onPatient?: (site: SiteProfile, written: number) => void;
}

export interface SiteSummary {
  profile: SiteProfile;
  dir: string;
  manifestPath: string;
  patients: number;
  /** Patients whose label is in the manifest (all test patients + the labelled training ones). */
  labelled: number;
  /** Proliferative patients (true class, labelled or not). */
  positives: number;
  train: number;
  val: number;
  test: number;
}

export interface CohortSummary {
  outDir: string;
  seed: number;
  sites: SiteSummary[];
  /** Every patient's phenotype with its site and assignment (the ground truth). */
  truth: TruthRow[];
}

export interface TruthRow {
  site: string;
  patientId: string;
  assignment: Assignment;
  phenotype: TumourPhenotype;
  phaseTimesS: number[];
  imageFeatures?: Record<ImageFeature, number>;
}

export const MANIFEST_COLUMNS = ['patient_id', 'dce', 'mask', 'label', 'split', 'phase_times'] as const;

/** Site profiles of a cohort (cheap: no images). */
export function cohortSites(
  seed: number,
  sites: number,
  labelledFraction?: number,
  scale = 1,
  agent: ContrastAgent = 'gadoxetate',
): SiteProfile[] {
  return Array.from({ length: sites }, (_, s) => {
    const siteSeed = childSeed(seed, s);
    const profile = drawSiteProfile(s, siteSeed, streamRng(siteSeed, SITE_STREAMS.profile), {
      firstSiteIs3T: (seed & 1) === 1,
      labelledFraction,
      agent,
    });
    return scale === 1 ? profile : shrinkSite(profile, scale);
  });
}

/**
 * The same site with fewer, larger voxels over the same field of view: cohorts for demos and CI
 * that generate and train in seconds. Everything else (timing, physics, phenotypes) is unchanged.
 */
export function shrinkSite(site: SiteProfile, scale: number): SiteProfile {
  const matrix = Math.max(16, Math.round(site.matrix * scale));
  const slices = Math.max(6, Math.round(site.slices * scale));
  return {
    ...site,
    matrix,
    slices,
    inPlaneMm: Number(((site.inPlaneMm * site.matrix) / matrix).toFixed(3)),
    sliceMm: Number(((site.sliceMm * site.slices) / slices).toFixed(3)),
  };
}

/** Every patient's phenotype at a site without painting images (the same draws generatePatient makes). */
export function sitePhenotypes(site: SiteProfile, patients: number): TumourPhenotype[] {
  return Array.from({ length: patients }, (_, k) =>
    drawPhenotype(streamRng(childSeed(site.seed, k), PATIENT_STREAMS.phenotype), site.prevalence),
  );
}

/** The validation share `synth --val-fraction` and `compare --quick` give each site's classes. */
export const SYNTH_VAL_FRACTION = 0.15;

/** Train/test split and withheld labels for a site's patients. */
export function siteAssignments(
  site: SiteProfile,
  phenotypes: TumourPhenotype[],
  testFraction = 0.3,
  valFraction = 0,
): Assignment[] {
  return assignSplits(
    phenotypes.map((p) => p.proliferative),
    testFraction,
    site.labelledFraction,
    streamRng(site.seed, SITE_STREAMS.split),
    valFraction,
  );
}

export function validateSynthOptions(o: SynthOptions): void {
  const positiveInt = (v: number, name: string, max: number) => {
    if (!Number.isInteger(v) || v < 1 || v > max)
      throw new InputError(`${name} must be an integer in 1..${max} (got ${v})`);
  };
  positiveInt(o.sites, '--sites', 676);
  positiveInt(o.patients, '--patients', 9999);
  if (o.seed !== undefined && (!Number.isInteger(o.seed) || o.seed < 0 || o.seed > 0xffffffff)) {
    throw new InputError(`--seed must be an integer in 0..4294967295 (got ${o.seed})`);
  }
  const fraction = (v: number | undefined, name: string, lo: number, hi: number) => {
    if (v !== undefined && !(Number.isFinite(v) && v >= lo && v <= hi)) {
      throw new InputError(`${name} must be a number in [${lo}, ${hi}] (got ${v})`);
    }
  };
  fraction(o.labelledFraction, '--labelled-fraction', 0, 1);
  fraction(o.testFraction, 'testFraction', 0, 0.9);
  fraction(o.valFraction, '--val-fraction', 0, 0.5);
  if ((o.testFraction ?? 0.3) + (o.valFraction ?? 0) > 0.9)
    throw new InputError(
      `test and validation fractions leave too few training patients (${(o.testFraction ?? 0.3) + (o.valFraction ?? 0)} > 0.9)`,
    );
  fraction(o.scale, '--scale', 0.25, 1);
  if (o.threads !== undefined && !(Number.isInteger(o.threads) && o.threads >= 0 && o.threads <= 64)) {
    throw new InputError(`--threads must be an integer in 0..64 (got ${o.threads})`);
  }
  if (o.gzipLevel !== undefined && !(Number.isInteger(o.gzipLevel) && o.gzipLevel >= 0 && o.gzipLevel <= 9)) {
    throw new InputError(`gzip level must be an integer in 0..9 (got ${o.gzipLevel})`);
  }
}

/** Generate and write the cohort. Refuses (before writing anything) to overwrite non-empty site directories. */
export async function generateCohort(options: SynthOptions): Promise<CohortSummary> {
  validateSynthOptions(options);
  const seed = options.seed ?? 1;
  const log = options.log ?? silentLog;
  const testFraction = options.testFraction ?? 0.3;
  if (existsSync(options.outDir) && !statSync(options.outDir).isDirectory()) {
    throw new InputError(`--out ${options.outDir} exists and is not a directory`);
  }
  const agent = options.agent ?? 'gadoxetate';
  if (agent !== 'gadoxetate' && options.measureImages) {
    // The image features (washout, hepatobiliary ratio, capsule) are defined on the six phases.
    throw new InputError(
      '--report measures the six-phase gadoxetate protocol; leave it out with --agent extracellular',
    );
  }
  const profiles = cohortSites(seed, options.sites, options.labelledFraction, options.scale ?? 1, agent);
  const occupied = profiles
    .map((p) => join(options.outDir, p.name))
    .filter((dir) => existsSync(dir) && readdirSync(dir).length > 0);
  if (occupied.length && !options.force) {
    throw new InputError(
      `${occupied.join(', ')} already exist${occupied.length === 1 ? 's' : ''} and ${occupied.length === 1 ? 'is' : 'are'} not empty; ` +
        'choose another --out or add --force to replace them',
    );
  }
  for (const dir of occupied) rmSync(dir, { recursive: true, force: true });

  const summaries: SiteSummary[] = [];
  const truth: TruthRow[] = [];
  const pool = createRenderPool(options.threads);
  log.debug({ threads: pool.threads }, pool.threads ? 'rendering on worker threads' : 'rendering in-process');
  try {
    for (const site of profiles) {
      summaries.push(await writeSite(site, options, pool, testFraction, truth, log));
    }
  } finally {
    await pool.close();
  }
  writeGroundTruth(options.outDir, seed, options, summaries, truth);
  return { outDir: options.outDir, seed, sites: summaries, truth };
}

/** Render a site's patients (in order, a few ahead), write their files and the manifest. */
async function writeSite(
  site: SiteProfile,
  options: SynthOptions,
  pool: RenderPool,
  testFraction: number,
  truth: TruthRow[],
  log: Log,
): Promise<SiteSummary> {
  const dir = join(options.outDir, site.name);
  mkdirSync(join(dir, 'images'), { recursive: true });
  const n = options.patients;
  const assignments = siteAssignments(site, sitePhenotypes(site, n), testFraction, options.valFraction ?? 0);
  log.info({ site: site.name, patients: n, fieldStrength: site.fieldStrength }, 'generating site');

  const ahead = Math.max(2, 2 * pool.threads);
  const pending: Promise<RenderedPatient>[] = [];
  let next = 0;
  const submit = () => {
    const job = pool.render({
      site,
      index: next++,
      gzipLevel: options.gzipLevel ?? 1,
      measureImages: Boolean(options.measureImages),
    });
    job.catch(() => undefined); // awaited below in order; this only marks it handled meanwhile
    pending.push(job);
  };
  while (next < n && pending.length < ahead) submit();

  const rows: string[] = [MANIFEST_COLUMNS.join(',')];
  const writes: Promise<void>[] = [];
  let written = 0;
  let positives = 0;
  for (let k = 0; k < n; k++) {
    const patient = await pending.shift()!;
    if (next < n) submit();
    const a = assignments[k];
    if (patient.phenotype.proliferative) positives++;
    const files = { dce: `images/${patient.id}_dce.nii.gz`, mask: `images/${patient.id}_mask.nii.gz` };
    rows.push(
      [
        patient.id,
        files.dce,
        files.mask,
        a.labelled ? (patient.phenotype.proliferative ? '1' : '0') : '',
        a.split,
        patient.phaseTimesS.map((t) => t.toFixed(1)).join(';'),
      ].join(','),
    );
    truth.push({
      site: site.name,
      patientId: patient.id,
      assignment: a,
      phenotype: patient.phenotype,
      phaseTimesS: patient.phaseTimesS,
      imageFeatures: patient.imageFeatures,
    });
    writes.push(
      Promise.all([
        writeFile(join(dir, files.dce), patient.dce),
        writeFile(join(dir, files.mask), patient.mask),
      ]).then(() => options.onPatient?.(site, ++written)),
    );
    if (writes.length > 4) await writes.shift();
  }
  await Promise.all(writes);
  const manifestPath = join(dir, 'manifest.csv');
  writeFileSync(manifestPath, rows.join('\n') + '\n');
  const test = assignments.filter((a) => a.split === 'test').length;
  const val = assignments.filter((a) => a.split === 'val').length;
  return {
    profile: site,
    dir,
    manifestPath,
    patients: n,
    labelled: assignments.filter((a) => a.labelled).length,
    positives,
    train: n - test - val,
    val,
    test,
  };
}

/** Ground truth beside (not inside) the site directories: for reports and research, not for agents. */
function writeGroundTruth(
  outDir: string,
  seed: number,
  options: SynthOptions,
  sites: SiteSummary[],
  truth: TruthRow[],
): void {
  const header = [
    'site',
    'patient_id',
    'proliferative',
    'split',
    'labelled',
    'diameter_mm',
    'necrotic_fraction',
    'margin_irregularity',
    'tumour_kep_per_min',
    'hepatocyte_fraction',
    'capsule_strength',
    ...PHENOTYPE_FEATURES.map((f) => `z_${f}`),
    'log_likelihood_ratio',
    'phase_times',
  ];
  const num = (x: number) => Number(x.toPrecision(6)).toString();
  const lines = truth.map((t) =>
    [
      t.site,
      t.patientId,
      t.phenotype.proliferative ? 1 : 0,
      t.assignment.split,
      t.assignment.labelled ? 1 : 0,
      num(t.phenotype.diameterMm),
      num(t.phenotype.necroticFraction),
      num(t.phenotype.marginIrregularity),
      num(t.phenotype.tumourKep),
      num(t.phenotype.hepatocyteFraction),
      num(t.phenotype.capsuleStrength),
      ...PHENOTYPE_FEATURES.map((f) => num(t.phenotype.latent[f])),
      num(t.phenotype.logLikelihoodRatio),
      t.phaseTimesS.map((s) => s.toFixed(1)).join(';'),
    ].join(','),
  );
  writeFileSync(join(outDir, 'ground-truth.csv'), [header.join(','), ...lines].join('\n') + '\n');
  const meta = {
    generator: 'phcc-fed synth',
    version: packageVersion(),
    seed,
    patientsPerSite: options.patients,
    scale: options.scale ?? 1,
    testFraction: options.testFraction ?? 0.3,
    valFraction: options.valFraction ?? 0,
    labelledFraction: options.labelledFraction ?? null,
    agent: options.agent ?? 'gadoxetate',
    phases: phaseNamesOf(options.agent ?? 'gadoxetate'),
    sites: sites.map((s) => ({
      ...s.profile,
      dir: s.profile.name,
      labelled: s.labelled,
      positives: s.positives,
    })),
  };
  writeFileSync(join(outDir, 'synth.json'), JSON.stringify(meta, null, 2) + '\n');
}
