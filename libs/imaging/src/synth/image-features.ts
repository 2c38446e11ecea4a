/**
 * Simple radiological measurements taken from a generated patient's stored images (not from the
 * generator's latents): they check that each phenotype tendency actually reaches the pixels, with
 * noise, bias field, partial volume and timing jitter in the way, as a model will see it.
 * The liver reference ROI uses the known liver shape, as a radiologist would place an ROI.
 */
import { liverRadius, PointMm } from './anatomy';
import { SyntheticPatient } from './patient';

export const IMAGE_FEATURES = ['size', 'rim', 'margin', 'washout', 'hbp', 'capsule'] as const;
export type ImageFeature = (typeof IMAGE_FEATURES)[number];

/** Phase indices in the DCE (see PHASE_NAMES). */
const PRE = 0;
const LATE_ARTERIAL = 2;
const PORTAL_VENOUS = 3;
const TRANSITIONAL = 4;
const HEPATOBILIARY = 5;

/**
 * Each value is oriented so that higher = "more proliferative" by the tendency it measures:
 * - size: equivalent-sphere diameter of the mask (mm);
 * - rim: late-arterial mean of the tumour's outer shell over its centre (rim APHE > 1);
 * - margin: coefficient of variation of the boundary's distance to the centroid (lobulation);
 * - washout: share of the viable tumour's arterial enhancement lost by the portal venous phase;
 * - hbp: minus the viable tumour-to-liver ratio in the hepatobiliary phase;
 * - capsule: minus the transitional-phase contrast of a 1–3 mm ring around the mask against
 *   the liver, relative to its pre-contrast contrast (an enhancing capsule raises it).
 */
export function measureImageFeatures(p: SyntheticPatient): Record<ImageFeature, number> {
  const { nx, ny, nz, sx, sy, sz } = p.grid;
  const nVox = nx * ny * nz;
  const mask = p.volume.mask;
  const data = p.volume.stored;
  const at = (v: number, phase: number) => data[v + phase * nVox];
  const position = (v: number): PointMm => {
    const i = v % nx;
    const j = Math.floor(v / nx) % ny;
    const k = Math.floor(v / (nx * ny));
    return [(i - (nx - 1) / 2) * sx, (j - (ny - 1) / 2) * sy, (k - (nz - 1) / 2) * sz];
  };
  const tumour: number[] = [];
  for (let v = 0; v < nVox; v++) if (mask[v]) tumour.push(v);
  if (tumour.length === 0) return { size: 0, rim: 1, margin: 0, washout: 0, hbp: 0, capsule: 0 };

  const centroid: PointMm = [0, 0, 0];
  for (const v of tumour) position(v).forEach((x, d) => (centroid[d] += x / tumour.length));
  const dist = (v: number) => Math.hypot(...position(v).map((x, d) => x - centroid[d]));
  const radius = Math.cbrt((3 * tumour.length * sx * sy * sz) / (4 * Math.PI));

  const inMask = (i: number, j: number, k: number) =>
    i >= 0 && j >= 0 && k >= 0 && i < nx && j < ny && k < nz && mask[i + nx * (j + ny * k)] === 1;
  const boundary: number[] = [];
  for (const v of tumour) {
    const i = v % nx;
    const j = Math.floor(v / nx) % ny;
    const k = Math.floor(v / (nx * ny));
    if (!inMask(i - 1, j, k) || !inMask(i + 1, j, k) || !inMask(i, j - 1, k) || !inMask(i, j + 1, k))
      boundary.push(v);
  }
  const boundaryRadii = boundary.map(dist);
  const meanRadius = mean(boundaryRadii);
  const margin = Math.sqrt(mean(boundaryRadii.map((r) => (r - meanRadius) ** 2))) / meanRadius;

  const shell = tumour.filter((v) => dist(v) > 0.6 * radius);
  const centre = tumour.filter((v) => dist(v) < 0.35 * radius);
  const phaseMean = (voxels: number[], phase: number) => mean(voxels.map((v) => at(v, phase)));
  const rim = centre.length
    ? phaseMean(shell, LATE_ARTERIAL) / Math.max(1, phaseMean(centre, LATE_ARTERIAL))
    : 1;

  // Viable tumour: the shell (necrosis sits at the centre).
  const viable = shell.length ? shell : tumour;
  const enhancement = phaseMean(viable, LATE_ARTERIAL) - phaseMean(viable, PRE);
  const washout =
    enhancement > 0 ? (phaseMean(viable, LATE_ARTERIAL) - phaseMean(viable, PORTAL_VENOUS)) / enhancement : 0;

  // Liver ROI: well inside the liver, ≥ 15 mm from the tumour; medians resist vessels.
  const liver: number[] = [];
  const ring: number[] = [];
  for (let v = 0; v < nVox; v += 3) {
    const pos = position(v);
    const d = Math.hypot(pos[0] - centroid[0], pos[1] - centroid[1], pos[2] - centroid[2]);
    if (d > radius + 15 && liverRadius(p.anatomy.liver, pos) < 0.8) liver.push(v);
  }
  for (let v = 0; v < nVox; v++) {
    if (mask[v]) continue;
    const d = dist(v);
    if (d < radius * 0.6 || d > radius * 1.6) continue;
    const i = v % nx;
    const j = Math.floor(v / nx) % ny;
    const k = Math.floor(v / (nx * ny));
    // Within 1–2 voxels of the mask, in-plane.
    let near = false;
    for (let dj = -2; dj <= 2 && !near; dj++)
      for (let di = -2; di <= 2 && !near; di++) near = inMask(i + di, j + dj, k);
    if (near) ring.push(v);
  }
  const liverMedian = (phase: number) => median(liver.map((v) => at(v, phase)));
  const hbp = -phaseMean(viable, HEPATOBILIARY) / liverMedian(HEPATOBILIARY);
  const ringContrast = (phase: number) => median(ring.map((v) => at(v, phase))) / liverMedian(phase);
  const capsule = -(ringContrast(TRANSITIONAL) - ringContrast(PRE));

  return { size: 2 * radius, rim, margin, washout, hbp, capsule };
}

function mean(xs: number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0;
}

function median(xs: number[]): number {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
