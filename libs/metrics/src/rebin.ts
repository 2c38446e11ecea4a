import { SiteHistogram } from './pooled';

/**
 * Sites may bin their scores differently (the protocol allows 1–10,000 equal bins on [0, 1]);
 * pooling needs one grid. Equal-width bins merge exactly when one count divides the other, so
 * every histogram is re-binned to the greatest common divisor of the counts: the finest grid all
 * of them can be expressed on without splitting a bin (10 and 1,000 → 10; 7 and 10 → 1, i.e. an
 * honest but uninformative pooled AUC whose binning error says so). One site's choice can then
 * coarsen the pooled figure, never fail the run (issue #18 row 13).
 */
export function commonBinCount(histograms: readonly SiteHistogram[]): number {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  return histograms.reduce((g, h) => gcd(h.bins, g), 0);
}

/** `h` on `bins` equal bins; `bins` must divide `h.bins` (bin b gathers h's bins b·k … b·k+k−1). */
export function rebinHistogram(h: SiteHistogram, bins: number): SiteHistogram {
  if (bins === h.bins) return h;
  if (!(bins >= 1 && h.bins % bins === 0)) throw new RangeError(`cannot re-bin ${h.bins} bins into ${bins}`);
  const k = h.bins / bins;
  const merge = (counts: number[]) =>
    Array.from({ length: bins }, (_, b) => {
      let sum = 0;
      for (let i = b * k; i < (b + 1) * k; i++) sum += counts[i] ?? 0;
      return sum;
    });
  return { ...h, bins, pos: merge(h.pos), neg: merge(h.neg) };
}
