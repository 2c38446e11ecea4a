import { InputError } from '../../common/src';
import { qnorm } from './distributions';

/**
 * Pooled AUC across hospitals without moving per-patient scores.
 *
 * Each site bins its predicted probabilities into B equal bins on [0, 1] and sends only the
 * per-class counts. The coordinator's pooled AUC counts a (case, control) pair in different
 * bins exactly (the higher bin wins) and a pair in the same bin as ½. The truth for a same-bin
 * pair may be 0, ½ or 1, so the binned AUC differs from the exact AUC of the concatenated data
 * by at most ½·Σ_b pos_b·neg_b / (nPos·nNeg): that bound is reported with every pooled value
 * (≤ ½·max_b share of controls in one bin, so it shrinks as B grows). When every score sits on
 * a bin centre, same-bin pairs are true ties and the binned AUC is exact.
 */
export interface ScoreHistogram {
  /** Number of equal-width bins on [0, 1]; bin b holds [b/B, (b+1)/B), the last one includes 1. */
  bins: number;
  /** Count of positive cases (label 1) per bin. */
  pos: number[];
  /** Count of negative controls (label 0) per bin. */
  neg: number[];
}

/** A histogram as the coordinator receives it, tagged with the site that sent it. */
export interface SiteHistogram extends ScoreHistogram {
  site?: string;
}

export const DEFAULT_HISTOGRAM_BINS = 1000;

/**
 * Built at a site: per-class counts of its scores (probabilities in [0, 1]) over `bins` bins.
 * `site` only serves to name the site in error messages.
 */
export function scoreHistogram(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  bins = DEFAULT_HISTOGRAM_BINS,
  site?: string,
): ScoreHistogram {
  const where = site ? `site ${site}` : 'score histogram';
  if (!Number.isInteger(bins) || bins < 1)
    throw new InputError(`${where}: bins must be a positive integer (got ${bins})`);
  if (labels.length !== scores.length) {
    throw new InputError(`${where}: ${labels.length} labels but ${scores.length} scores`);
  }
  const pos = new Array<number>(bins).fill(0);
  const neg = new Array<number>(bins).fill(0);
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i];
    if (!(s >= 0 && s <= 1)) {
      throw new InputError(
        `${where}: score ${s} at index ${i} is outside [0, 1]; histograms need probabilities`,
      );
    }
    const label = labels[i];
    if (label !== 0 && label !== 1)
      throw new InputError(`${where}: label at index ${i} is ${label}; labels must be 0 or 1`);
    const bin = Math.min(Math.floor(s * bins), bins - 1);
    if (label === 1) pos[bin]++;
    else neg[bin]++;
  }
  return { bins, pos, neg };
}

/** The binned AUC of one histogram (or a pooled one) and its worst-case binning error. */
export interface BinnedAuc {
  /** null when a class is absent. */
  auc: number | null;
  maxBinningError: number | null;
  nPos: number;
  nNeg: number;
}

export interface SiteAucRow extends BinnedAuc {
  site: string;
}

export interface PooledAuc extends BinnedAuc {
  auc: number;
  maxBinningError: number;
  /** Each site's own binned AUC (null if the site lacks a class), in input order. */
  perSite: SiteAucRow[];
  /** Unweighted mean of the per-site AUCs over sites that have both classes (null if none). */
  meanSiteAuc: number | null;
  sites: number;
}

/** O(B): sweep the bins upwards keeping the number of controls in lower bins. */
export function binnedAuc(h: ScoreHistogram): BinnedAuc {
  let nPos = 0;
  let nNeg = 0;
  let twiceU = 0;
  let sameBinPairs = 0;
  for (let b = 0; b < h.bins; b++) {
    twiceU += h.pos[b] * (2 * nNeg + h.neg[b]);
    sameBinPairs += h.pos[b] * h.neg[b];
    nPos += h.pos[b];
    nNeg += h.neg[b];
  }
  if (nPos === 0 || nNeg === 0) return { auc: null, maxBinningError: null, nPos, nNeg };
  const pairs = nPos * nNeg;
  return { auc: twiceU / (2 * pairs), maxBinningError: (0.5 * sameBinPairs) / pairs, nPos, nNeg };
}

function checkHistogram(h: SiteHistogram, index: number, bins: number): string {
  const site = h.site ?? `#${index + 1}`;
  if (h.bins !== bins) {
    throw new InputError(`site ${site}: histogram has ${h.bins} bins but the first site's has ${bins}`);
  }
  for (const [name, counts] of [
    ['pos', h.pos],
    ['neg', h.neg],
  ] as const) {
    if (!Array.isArray(counts) || counts.length !== bins) {
      throw new InputError(`site ${site}: ${name} must hold ${bins} counts`);
    }
    const bad = counts.findIndex((c) => !Number.isInteger(c) || c < 0);
    if (bad >= 0)
      throw new InputError(
        `site ${site}: ${name}[${bad}] = ${counts[bad]} is not a non-negative integer count`,
      );
  }
  return site;
}

/** Sums the sites' histograms bin by bin after checking each; also each site's own binned AUC. */
export function sumHistograms(histograms: SiteHistogram[]): {
  summed: ScoreHistogram;
  perSite: SiteAucRow[];
} {
  if (histograms.length === 0) throw new InputError('pooled AUC: no site histograms');
  const bins = histograms[0].bins;
  if (!Number.isInteger(bins) || bins < 1)
    throw new InputError(`pooled AUC: bins must be a positive integer (got ${bins})`);
  const pos = new Array<number>(bins).fill(0);
  const neg = new Array<number>(bins).fill(0);
  const perSite: SiteAucRow[] = histograms.map((h, k) => {
    const site = checkHistogram(h, k, bins);
    for (let b = 0; b < bins; b++) {
      pos[b] += h.pos[b];
      neg[b] += h.neg[b];
    }
    return { site, ...binnedAuc(h) };
  });
  return { summed: { bins, pos, neg }, perSite };
}

/**
 * Coordinator side: the pooled AUC of all sites' patients from their histograms (counts are
 * summed bin by bin, so the result is the binned AUC of the concatenated data), its maximum
 * binning error, and the per-site table.
 */
export function pooledAucFromHistograms(histograms: SiteHistogram[]): PooledAuc {
  const { summed, perSite } = sumHistograms(histograms);
  const pooled = binnedAuc(summed);
  if (pooled.auc === null || pooled.maxBinningError === null) {
    throw new InputError(
      `pooled AUC: the sites hold ${pooled.nPos} positive and ${pooled.nNeg} negative cases in all; both classes are needed`,
    );
  }
  const siteAucs = perSite.map((r) => r.auc).filter((a): a is number => a !== null);
  return {
    auc: pooled.auc,
    maxBinningError: pooled.maxBinningError,
    nPos: pooled.nPos,
    nNeg: pooled.nNeg,
    perSite,
    meanSiteAuc: siteAucs.length ? siteAucs.reduce((s, a) => s + a, 0) / siteAucs.length : null,
    sites: histograms.length,
  };
}

/**
 * DeLong variance of the binned AUC of one histogram: the bin index is the score, so every case
 * in bin b has placement x_b = (controls below b + ½·controls in b)/n and every control
 * y_b = (cases above b + ½·cases in b)/m; S10 = Σ_b pos_b (x_b − θ)²/(m − 1), S01 likewise, and
 * Var = S10/m + S01/n — exactly pROC's `var(roc(y, bin))` on the expanded data, in O(B).
 */
export function histogramDelongVariance(h: ScoreHistogram, auc: number): number {
  let m = 0;
  let n = 0;
  for (let b = 0; b < h.bins; b++) {
    m += h.pos[b];
    n += h.neg[b];
  }
  if (m < 2 || n < 2)
    throw new InputError(`DeLong variance needs ≥ 2 cases and ≥ 2 controls (got ${m} and ${n})`);
  let controlsBelow = 0;
  let casesAbove = m;
  let ss10 = 0;
  let ss01 = 0;
  for (let b = 0; b < h.bins; b++) {
    casesAbove -= h.pos[b];
    if (h.pos[b] > 0) ss10 += h.pos[b] * ((controlsBelow + 0.5 * h.neg[b]) / n - auc) ** 2;
    if (h.neg[b] > 0) ss01 += h.neg[b] * ((casesAbove + 0.5 * h.pos[b]) / m - auc) ** 2;
    controlsBelow += h.neg[b];
  }
  return ss10 / (m - 1) / m + ss01 / (n - 1) / n;
}

/**
 * The pooled AUC with a confidence interval, from histograms alone. `ci` is DeLong's interval of
 * the binned AUC (the AUC of the concatenated patients with scores rounded to their bin);
 * `ciWithBinning` widens it on each side by the binning bound, so it also covers the exact
 * pooled AUC's interval centre whatever the scores inside the bins were. With 1000 bins the
 * bound is typically < 0.005 and both intervals almost coincide.
 *
 * What it estimates: the AUC of all sites' patients pooled, which also ranks a patient of one
 * site against a control of another. When sites differ in score scale this mixes calibration into
 * discrimination; the site-stratified alternative is `fixedEffect` over the sites' own AUCs
 * (meta-analysis.ts). Both are reported by the comparison; docs/MODEL.md says when each applies.
 */
export interface PooledAucWithCi extends PooledAuc {
  variance: number;
  standardError: number;
  ci: [number, number];
  ciWithBinning: [number, number];
  confLevel: number;
}

export function pooledAucWithCi(histograms: SiteHistogram[], confLevel = 0.95): PooledAucWithCi {
  if (!(confLevel > 0 && confLevel < 1)) {
    throw new InputError(`confidence level must be between 0 and 1 (got ${confLevel})`);
  }
  const pooled = pooledAucFromHistograms(histograms);
  const variance = histogramDelongVariance(sumHistograms(histograms).summed, pooled.auc);
  const half = qnorm(1 - (1 - confLevel) / 2) * Math.sqrt(variance);
  const e = pooled.maxBinningError;
  return {
    ...pooled,
    variance,
    standardError: Math.sqrt(variance),
    ci: [Math.max(0, pooled.auc - half), Math.min(1, pooled.auc + half)],
    ciWithBinning: [Math.max(0, pooled.auc - half - e), Math.min(1, pooled.auc + half + e)],
    confLevel,
  };
}
