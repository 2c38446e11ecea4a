import {
  chooseThreshold,
  chooseThresholdOfHistogram,
  metricsAtThreshold,
  ratesOfCounts,
  scoreHistogram,
  shiftPrior,
  sumHistograms,
  type CountsAndRates,
  type ScoreHistogram,
} from '../../../../libs/metrics/src';
import { isFinetunePatient } from '../../../../libs/model/src/training/patient-roles';
import type { PatientSample } from '../../../../libs/model/src/training/types';
import type { NamedArray } from '../../../../libs/weights/src';
import type { ArmSpec } from './arms';
import { COMPARE_HISTOGRAM_BINS } from './evaluation';
import { type ArmModel, type CompareSite, weightsAt } from './train-arms';

/**
 * Where an arm's operating point at one evaluated site comes from. Never from the evaluated
 * patients (a Youden cut-off fitted to them flatters sensitivity and specificity):
 * - `validation`: the site trained the arm, so it fixes the cut-off on its own validation split
 *   (Youden's J, `chooseThreshold`) — what a federated run's evaluation task does;
 * - `transferred`: the site did not train the arm (an external cohort, or another hospital for a
 *   local-only model), so the arm's cut-off travels with it from the sites that trained it: one
 *   training site's own validation cut-off (the cross-site matrix's rule), or, for several, Youden
 *   on their validation histograms summed (`chooseThresholdOfHistogram`: counts only, exact to
 *   1/1000), each scored with the weights the evaluated site receives.
 */
export interface CutOff {
  /** Balanced-score cut-off (positive when score ≥ it); null when none could be fixed (`note`). */
  threshold: number | null;
  source: 'validation' | 'transferred';
  /** The sites whose validation patients fixed it. */
  from: string[];
  /** Labelled validation patients it was chosen on. */
  n_val: number;
  note?: string;
}

/** The training sites whose validation splits fix an arm's cut-off: a local arm's own site, else all. */
export function cutOffSitesOf(arm: Pick<ArmSpec, 'kind' | 'site'>, training: readonly string[]): string[] {
  return arm.kind === 'local' ? [arm.site!] : [...training];
}

/** A site's labelled validation patients. */
export function validationPatients(site: CompareSite): PatientSample[] {
  return site.samples.filter((p) => p.split === 'val' && (p.label === 0 || p.label === 1));
}

/** Scores of a model (its weights at a site) on patients, as the site computes them. */
export type Scorer = (
  weights: readonly NamedArray[],
  patients: readonly PatientSample[],
) => Promise<Float32Array>;

/**
 * The arm's cut-off at each evaluated site (by site id). Validation scores are computed once per
 * (training site, weights) pair: FedBN's sites hold their own normalisation layers, so an external
 * cohort's transferred cut-off is chosen with the shared weights it evaluates, not the sites' own.
 */
export async function armCutOffs(
  arm: Pick<ArmSpec, 'kind' | 'site'>,
  model: ArmModel,
  training: readonly CompareSite[],
  evaluated: readonly CompareSite[],
  score: Scorer,
): Promise<Map<string, CutOff>> {
  const owners = cutOffSitesOf(
    arm,
    training.map((s) => s.site),
  ).map((id) => training.find((s) => s.site === id)!);
  const cache = new Map<readonly NamedArray[], Map<string, { labels: number[]; scores: Float32Array }>>();
  const validationOf = async (site: CompareSite, weights: readonly NamedArray[]) => {
    let bySite = cache.get(weights);
    if (!bySite) cache.set(weights, (bySite = new Map()));
    let v = bySite.get(site.site);
    if (!v) {
      const patients = validationPatients(site);
      const scores = patients.length ? await score(weights, patients) : new Float32Array(0);
      v = { labels: patients.map((p) => p.label as number), scores };
      bySite.set(site.site, v);
    }
    return v;
  };
  const out = new Map<string, CutOff>();
  for (const site of evaluated) {
    const weights = weightsAt(model, site.site);
    const own = owners.some((o) => o.site === site.site);
    const from = own ? [site] : owners;
    const source = own ? 'validation' : 'transferred';
    const vals = await Promise.all(from.map((s) => validationOf(s, weights)));
    const usable = vals.filter((v) => hasBoth(v.labels));
    const base = { source, from: from.map((s) => s.site) } as const;
    if (usable.length === 0) {
      out.set(site.site, {
        ...base,
        threshold: null,
        n_val: 0,
        note: `no validation split with both classes at ${base.from.join(', ')}`,
      });
      continue;
    }
    const threshold =
      from.length === 1
        ? chooseThreshold(usable[0].labels, usable[0].scores)
        : chooseThresholdOfHistogram(
            sumHistograms(usable.map((v) => histogramOf(v.labels, v.scores))).summed,
          );
    const n_val = usable.reduce((a, v) => a + v.labels.length, 0);
    out.set(
      site.site,
      Number.isFinite(threshold)
        ? { ...base, threshold, n_val }
        : { ...base, threshold: null, n_val, note: 'no cut-off beats chance on validation' },
    );
  }
  return out;
}

function histogramOf(labels: number[], scores: Float32Array): ScoreHistogram {
  return scoreHistogram(labels, scores, COMPARE_HISTOGRAM_BINS);
}

function hasBoth(labels: readonly number[]): boolean {
  return labels.includes(0) && labels.includes(1);
}

/** An arm at one site classified at its fixed cut-off: the 2×2 counts and what they give. */
export interface AtThreshold extends CutOff {
  /** The cut-off as a probability at the arm's training prevalence (`shiftPrior`); null without one. */
  threshold_probability: number | null;
  tp: number | null;
  fp: number | null;
  tn: number | null;
  fn: number | null;
  sensitivity: number | null;
  specificity: number | null;
  ppv: number | null;
  npv: number | null;
  accuracy: number | null;
}

/**
 * The evaluated patients classified at the fixed cut-off (`metricsAtThreshold`: positive when
 * score ≥ cut-off). Aggregates only. Metrics are null when there is no cut-off or the site lacks
 * a class (sensitivity and specificity need both).
 */
export function atThreshold(
  cutOff: CutOff,
  labels: readonly number[],
  scores: ArrayLike<number>,
  trainingPrevalence: number | null,
): AtThreshold {
  const probability =
    cutOff.threshold !== null &&
    trainingPrevalence !== null &&
    trainingPrevalence > 0 &&
    trainingPrevalence < 1
      ? shiftPrior(cutOff.threshold, trainingPrevalence)
      : null;
  const none = {
    tp: null,
    fp: null,
    tn: null,
    fn: null,
    sensitivity: null,
    specificity: null,
    ppv: null,
    npv: null,
    accuracy: null,
  };
  if (cutOff.threshold === null) return { ...cutOff, threshold_probability: probability, ...none };
  if (!hasBoth(labels))
    return {
      ...cutOff,
      threshold_probability: probability,
      ...none,
      note: 'the evaluated patients lack a class',
    };
  const m = metricsAtThreshold(labels, scores, cutOff.threshold);
  const { tp, fp, tn, fn, sensitivity, specificity, ppv, npv, accuracy } = m;
  return {
    ...cutOff,
    threshold_probability: probability,
    tp,
    fp,
    tn,
    fn,
    sensitivity,
    specificity,
    ppv,
    npv,
    accuracy,
  };
}

/** Summed 2×2 counts of several sites (each at its own cut-off) and the rates they give. */
export type PooledAtThreshold = { sites: number } & CountsAndRates;

export function pooledAtThreshold(rows: readonly AtThreshold[]): PooledAtThreshold | null {
  const usable = rows.filter((r) => r.tp !== null);
  if (usable.length === 0) return null;
  const s = (k: 'tp' | 'fp' | 'tn' | 'fn') => usable.reduce((a, r) => a + r[k]!, 0);
  const [tp, fp, tn, fn] = [s('tp'), s('fp'), s('tn'), s('fn')];
  return { sites: usable.length, ...ratesOfCounts({ tp, fp, tn, fn }) };
}

/**
 * The labelled share of the training patients an arm was fine-tuned on: what its balanced scores
 * (class-balanced loss, a 50 % prior) are recalibrated to (`shiftPrior`). Counts only.
 */
export function trainingPrevalence(
  arm: Pick<ArmSpec, 'kind' | 'site'>,
  training: readonly CompareSite[],
): number | null {
  const owners = new Set(
    cutOffSitesOf(
      arm,
      training.map((s) => s.site),
    ),
  );
  let pos = 0;
  let all = 0;
  for (const site of training.filter((s) => owners.has(s.site))) {
    for (const p of site.samples.filter(isFinetunePatient)) {
      all++;
      if (p.label === 1) pos++;
    }
  }
  return all === 0 ? null : pos / all;
}
