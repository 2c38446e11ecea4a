/**
 * Per-site, per-phase robust z-score. Each scanner and protocol puts DCE intensities on its own
 * arbitrary scale, and contrast uptake changes that scale phase by phase, so one site-wide
 * (median, spread) per phase, measured on tissue around the tumours of the site's training
 * patients, maps every site onto a comparable scale without looking at test patients.
 */
import { InputError } from '../../../common/src';
import { StreamingHistogram } from './histogram';

/** IQR of a standard normal distribution: IQR / 1.349 estimates σ robustly. */
const NORMAL_IQR = 1.349;

export interface PhaseNormalisation {
  /** Median of the reference region, subtracted. */
  median: number;
  /** IQR / 1.349 of the reference region, divided by (1 when the region is flat). */
  scale: number;
  /** Reference pixels the statistics came from. */
  pixels: number;
}

/** Serialisable (JSON) so a site can store it next to its model and reuse it at predict time. */
export interface SiteNormalisation {
  method: 'robust-z-peritumoural';
  /** Which patients the statistics came from: the training split, or all when it had none. */
  source: 'train' | 'all';
  patients: number;
  /** One entry per model phase, in acquisition order. */
  phases: PhaseNormalisation[];
}

/** Collects reference-region pixels per phase during the first pass over a site. */
export class NormalisationAccumulator {
  private readonly histograms: StreamingHistogram[];
  private patientCount = 0;

  constructor(readonly phaseCount: number) {
    this.histograms = Array.from({ length: phaseCount }, () => new StreamingHistogram());
  }

  get patients(): number {
    return this.patientCount;
  }

  /** `perPhase[t]`: the patient's reference-region values of model phase t. */
  addPatient(perPhase: ArrayLike<number>[]): void {
    perPhase.forEach((values, t) => this.histograms[t].addAll(values));
    this.patientCount++;
  }

  finish(source: SiteNormalisation['source']): SiteNormalisation {
    return {
      method: 'robust-z-peritumoural',
      source,
      patients: this.patientCount,
      phases: this.histograms.map((h) => {
        const median = h.quantile(0.5);
        const iqr = h.quantile(0.75) - h.quantile(0.25);
        const scale = iqr / NORMAL_IQR;
        return {
          median: Number.isFinite(median) ? median : 0,
          scale: scale > 1e-6 * Math.max(1, Math.abs(median)) ? scale : 1,
          pixels: h.count,
        };
      }),
    };
  }
}

/** (x − median) / scale of phase t, in place, on the `channels` of each pixel listed. */
export function normaliseCrop(
  crop: Float32Array,
  shape: [number, number, number, number],
  intensityChannels: number,
  norm: SiteNormalisation,
): void {
  const [phases, height, width, channels] = shape;
  if (norm.phases.length < phases) {
    throw new InputError(`normalisation has ${norm.phases.length} phases, the crop has ${phases}`);
  }
  const pixels = height * width;
  for (let t = 0; t < phases; t++) {
    const { median, scale } = norm.phases[t];
    const inv = 1 / scale;
    const base = t * pixels * channels;
    for (let p = 0; p < pixels; p++) {
      const o = base + p * channels;
      for (let c = 0; c < intensityChannels; c++) crop[o + c] = (crop[o + c] - median) * inv;
    }
  }
}

/** Checks a normalisation read from JSON (e.g. saved with a model) before it is trusted. */
export function validateNormalisation(
  value: unknown,
  phases: number,
  source = 'normalisation',
): SiteNormalisation {
  const n = value as Partial<SiteNormalisation> | null;
  const ok =
    n !== null &&
    typeof n === 'object' &&
    n.method === 'robust-z-peritumoural' &&
    Array.isArray(n.phases) &&
    n.phases.length >= phases &&
    n.phases.every(
      (p) =>
        p &&
        Number.isFinite(p.median) &&
        Number.isFinite(p.scale) &&
        p.scale > 0 &&
        Number.isFinite(p.pixels),
    );
  if (!ok) {
    throw new InputError(
      `${source}: not a robust-z-peritumoural site normalisation with ${phases} valid phases`,
    );
  }
  return n as SiteNormalisation;
}
