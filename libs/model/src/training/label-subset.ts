import { createHash } from 'node:crypto';
import { InputError } from '../../../common/src';
import { PatientSample } from './types';

export interface LabelSubsetOptions {
  /** Groups stratified separately (e.g. the site); default: one group. */
  groupOf?: (sample: PatientSample) => string;
  /** Changes which patients are picked, independently of any training seed. */
  salt?: string;
}

export interface LabelSubsetReport {
  labelledBefore: number;
  labelledAfter: number;
  /** Kept / available labels per group and class, e.g. `site-a/1: 8/26`. */
  strata: Record<string, string>;
}

/**
 * Keeps a fraction of the labels and turns the rest into unlabelled patients, for label-efficiency
 * studies (the paper's point: SSL should matter most when few patients carry a label).
 *
 * The choice is stratified by group and class, so every site keeps its prevalence, and ranked by a
 * hash of the patient id rather than an Rng: the subset depends on the ids and the fraction only,
 * so an SSL run and its --no-ssl ablation with other training seeds see the same labelled
 * patients, and 30 % is a subset of 50 %. Unlabelled patients still serve SSL.
 */
export function keepLabelFraction(
  samples: readonly PatientSample[],
  fraction: number,
  options: LabelSubsetOptions = {},
): { samples: PatientSample[]; report: LabelSubsetReport } {
  if (!(fraction > 0 && fraction <= 1)) {
    throw new InputError(`labelled fraction must be in (0, 1] (got ${fraction})`);
  }
  const groupOf = options.groupOf ?? (() => '');
  const salt = options.salt ?? 'phcc-label-subset';
  const strata = new Map<string, number[]>();
  samples.forEach((s, i) => {
    if (s.label !== 0 && s.label !== 1) return;
    const key = `${groupOf(s)}/${s.label}`;
    const list = strata.get(key) ?? [];
    list.push(i);
    strata.set(key, list);
  });
  const keep = new Set<number>();
  const report: LabelSubsetReport = { labelledBefore: 0, labelledAfter: 0, strata: {} };
  for (const [key, indices] of [...strata].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const ranked = indices
      .map((i) => ({ i, rank: createHash('sha256').update(`${salt}\n${samples[i].id}`).digest('hex') }))
      .sort((a, b) => (a.rank < b.rank ? -1 : a.rank > b.rank ? 1 : a.i - b.i));
    // At least one per non-empty stratum: a class that vanishes from a site changes the question.
    const count = Math.max(1, Math.round(fraction * indices.length));
    for (const { i } of ranked.slice(0, count)) keep.add(i);
    report.labelledBefore += indices.length;
    report.labelledAfter += count;
    report.strata[key] = `${count}/${indices.length}`;
  }
  return {
    samples: samples.map((s, i) => (s.label === null || keep.has(i) ? s : { ...s, label: null })),
    report,
  };
}
