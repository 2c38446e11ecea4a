/**
 * Turns anatomy + per-compartment phase signals into the 4-D DCE volume a scanner would store:
 * partial-volume painting (in signal space, which is what a voxel holding two tissues measures),
 * tissue texture, the site's smooth coil bias field and gain, Gaussian noise, int16 storage.
 * Written for speed: one pass per shape over its bounding box only.
 */
import { Rng } from '../../../common/src';
import { Anatomy, Grid, liverRadius, tumourBoundary, PointMm } from './anatomy';
import { Compartment } from './kinetics';

export interface ScannerEffects {
  gain: number;
  /** Noise standard deviation, in the same units as gain × signal. */
  noiseSd: number;
  /**
   * Value of one stored integer (scl_slope). A site stores at a fixed step, as scanners do; a
   * volume too bright for int16 at that step gets a coarser one.
   */
  storageStep: number;
  /** Bias polynomial coefficients (x, y, z, x², y², xy) in units of log-intensity over the FOV. */
  biasCoefficients: number[];
}

export interface PaintedVolume {
  /** Voxel values (x fastest, then y, z, phase), already scaled: stored = round(value / sclSlope). */
  stored: Int16Array;
  sclSlope: number;
  /** 1 inside the tumour (partial-volume weight ≥ 0.5), else 0. */
  mask: Uint8Array;
}

/** A table of standard normals: drawing per voxel from it costs one integer draw, not a log + cos. */
export function normalTable(rng: Rng, size = 1 << 16): Float32Array {
  const t = new Float32Array(size);
  for (let i = 0; i < size; i++) t[i] = rng.normal();
  return t;
}

/** Smooth 1-D random profile (sum of cosines with wavelengths 15–60 mm) sampled at n points. */
function smoothProfile(rng: Rng, n: number, step: number): Float32Array {
  const out = new Float32Array(n);
  for (let c = 0; c < 3; c++) {
    const k = (2 * Math.PI) / rng.uniform(15, 60);
    const phase = rng.uniform(0, 2 * Math.PI);
    const amp = rng.uniform(0.5, 1) / Math.sqrt(3);
    for (let i = 0; i < n; i++) out[i] += amp * Math.cos(k * i * step + phase);
  }
  return out;
}

/** Paint the DCE series of one patient. `signals[c][p]` is compartment c's signal at phase p. */
export function paintVolume(
  rng: Rng,
  grid: Grid,
  anatomy: Anatomy,
  signals: Record<Compartment, number[]>,
  scanner: ScannerEffects,
  normals: Float32Array,
): PaintedVolume {
  const { nx, ny, nz } = grid;
  const nVox = nx * ny * nz;
  const phases = signals.liver.length;
  const vol = new Float32Array(nVox * phases);
  const mask = new Uint8Array(nVox);
  // One-voxel partial-volume ramp: in-plane spacing (slices are thicker, but a shared ramp keeps
  // shapes isotropic in mm; through-plane partial volume still follows from the sampling).
  const ramp = Math.max(grid.sx, grid.sy);
  const clamp01 = (x: number) => (x <= 0 ? 0 : x >= 1 ? 1 : x);

  // Texture: separable smooth fields (cheap, and visibly structured like real parenchyma).
  const tex = {
    x: smoothProfile(rng, nx, grid.sx),
    y: smoothProfile(rng, ny, grid.sy),
    z: smoothProfile(rng, nz, grid.sz),
    d: smoothProfile(rng, nx + ny, Math.SQRT1_2 * grid.sx),
  };
  const textureAt = (i: number, j: number, k: number) => tex.x[i] + tex.y[j] + tex.z[k] + tex.d[i + j];

  // Phases interleaved while painting (v·phases + p): each paint touches one cache line.
  const paint = (v: number, w: number, s: number[], texture: number) => {
    const base = v * phases;
    for (let p = 0; p < phases; p++) {
      const idx = base + p;
      vol[idx] += w * (s[p] * texture - vol[idx]);
    }
  };

  // Background soft tissue everywhere, then the liver.
  const liverEdgeScale = Math.min(...anatomy.liver.semiAxes) / ramp;
  const p3: PointMm = [0, 0, 0];
  for (let k = 0; k < nz; k++) {
    for (let j = 0; j < ny; j++) {
      for (let i = 0; i < nx; i++) {
        const v = i + nx * (j + ny * k);
        const t = textureAt(i, j, k);
        const bg = signals.background;
        const bgScale = 1 + 0.12 * t;
        for (let p = 0; p < phases; p++) vol[v * phases + p] = bg[p] * bgScale;
        p3[0] = (i - (nx - 1) / 2) * grid.sx;
        p3[1] = (j - (ny - 1) / 2) * grid.sy;
        p3[2] = (k - (nz - 1) / 2) * grid.sz;
        const wLiver = clamp01((1 - liverRadius(anatomy.liver, p3)) * liverEdgeScale + 0.5);
        if (wLiver > 0) paint(v, wLiver, signals.liver, 1 + 0.03 * t);
      }
    }
  }

  for (const seg of anatomy.vessels) {
    const rMax = Math.max(seg.radiusFrom, seg.radiusTo) + ramp;
    const axis: PointMm = [seg.to[0] - seg.from[0], seg.to[1] - seg.from[1], seg.to[2] - seg.from[2]];
    const len2 = axis[0] ** 2 + axis[1] ** 2 + axis[2] ** 2;
    forEachInBox(grid, seg.from, seg.to, rMax, (v, p) => {
      const rel0 = p[0] - seg.from[0];
      const rel1 = p[1] - seg.from[1];
      const rel2 = p[2] - seg.from[2];
      const t = Math.min(1, Math.max(0, (rel0 * axis[0] + rel1 * axis[1] + rel2 * axis[2]) / len2));
      const e0 = rel0 - t * axis[0];
      const e1 = rel1 - t * axis[1];
      const e2 = rel2 - t * axis[2];
      const d = Math.sqrt(e0 * e0 + e1 * e1 + e2 * e2);
      const radius = seg.radiusFrom + t * (seg.radiusTo - seg.radiusFrom);
      const w = clamp01((radius - d) / ramp + 0.5);
      if (w > 0) paint(v, w, signals[seg.kind], 1);
    });
  }

  const tumour = anatomy.tumour;
  const reach = tumour.radiusMm * 1.6 + tumour.capsuleThicknessMm + 2 * ramp;
  const noiseMask = normals.length - 1;
  forEachInBox(grid, tumour.centre, tumour.centre, reach, (v, p) => {
    const dx = p[0] - tumour.centre[0];
    const dy = p[1] - tumour.centre[1];
    const dz = p[2] - tumour.centre[2];
    const dist = Math.sqrt(dx * dx + dy * dy + dz * dz);
    const dir: PointMm = dist > 1e-9 ? [dx / dist, dy / dist, dz / dist] : [1, 0, 0];
    const boundary = tumourBoundary(tumour, dir);
    const outside = dist - boundary; // mm, > 0 outside the tumour
    const wCapsule =
      tumour.capsuleStrength *
      clamp01(Math.min(outside + ramp / 2, tumour.capsuleThicknessMm + ramp / 2 - outside) / ramp);
    if (wCapsule > 0) paint(v, wCapsule, signals.capsule, 1);
    const wTumour = clamp01(0.5 - outside / ramp);
    if (wTumour <= 0) return;
    // Viable tumour is heterogeneous at the voxel scale.
    paint(v, wTumour, signals.tumour, 1 + 0.06 * normals[rng.nextUint32() & noiseMask]);
    const wCore = wTumour * clamp01((tumour.necroticFraction * boundary - dist) / ramp + 0.5);
    if (wCore > 0) paint(v, wCore, signals.necrosis, 1 + 0.04 * normals[rng.nextUint32() & noiseMask]);
    if (wTumour >= 0.5) mask[v] = 1;
  });

  return { ...scanAndStore(rng, grid, vol, phases, scanner, normals), mask };
}

/**
 * Coil bias × gain, Gaussian noise (magnitude: |·|), then int16 at the site's storage step (a
 * coarser one only if the volume would overflow int16). Reads the phase-interleaved working
 * volume and writes NIfTI order (phase slowest).
 */
function scanAndStore(
  rng: Rng,
  grid: Grid,
  vol: Float32Array,
  phases: number,
  scanner: ScannerEffects,
  normals: Float32Array,
): { stored: Int16Array; sclSlope: number } {
  const { nx, ny, nz } = grid;
  const nVox = nx * ny * nz;
  const [cx, cy, cz, cxx, cyy, cxy] = scanner.biasCoefficients;
  const u = (i: number, n: number) => (2 * i) / Math.max(1, n - 1) - 1; // −1..1 across the FOV
  const gainMap = new Float32Array(nVox);
  for (let k = 0; k < nz; k++) {
    const z = u(k, nz);
    for (let j = 0; j < ny; j++) {
      const y = u(j, ny);
      for (let i = 0; i < nx; i++) {
        const x = u(i, nx);
        gainMap[i + nx * (j + ny * k)] =
          scanner.gain * Math.exp(cx * x + cy * y + cz * z + cxx * x * x + cyy * y * y + cxy * x * y);
      }
    }
  }
  const noiseMask = normals.length - 1;
  const noiseSd = scanner.noiseSd;
  const stored = new Int16Array(vol.length);
  let sclSlope = scanner.storageStep;
  let inverse = 1 / sclSlope;
  let max = 0;
  // xorshift32 in a local: a class-based generator per voxel costs ~10× more in V8.
  let state = rng.nextUint32() | 1;
  for (let v = 0; v < nVox; v++) {
    const g = gainMap[v];
    const base = v * phases;
    for (let p = 0; p < phases; p++) {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      const value = Math.abs(vol[base + p] * g + noiseSd * normals[state & noiseMask]);
      vol[base + p] = value;
      if (value > max) max = value;
      stored[p * nVox + v] = Math.min(32767, Math.round(value * inverse));
    }
  }
  if (max * inverse > 32767) {
    // Too bright for int16 at the site's step (rare): store this volume at a coarser one.
    sclSlope = max / 32000;
    inverse = 1 / sclSlope;
    for (let v = 0; v < nVox; v++) {
      for (let p = 0; p < phases; p++) stored[p * nVox + v] = Math.round(vol[v * phases + p] * inverse);
    }
  }
  return { stored, sclSlope };
}

/** Visit every voxel whose centre lies within `reach` mm of the box spanned by a and b. */
function forEachInBox(
  grid: Grid,
  a: PointMm,
  b: PointMm,
  reach: number,
  visit: (v: number, p: PointMm) => void,
): void {
  const range = (lo: number, hi: number, n: number, s: number): [number, number] => [
    Math.max(0, Math.floor(lo / s + (n - 1) / 2)),
    Math.min(n - 1, Math.ceil(hi / s + (n - 1) / 2)),
  ];
  const [i0, i1] = range(Math.min(a[0], b[0]) - reach, Math.max(a[0], b[0]) + reach, grid.nx, grid.sx);
  const [j0, j1] = range(Math.min(a[1], b[1]) - reach, Math.max(a[1], b[1]) + reach, grid.ny, grid.sy);
  const [k0, k1] = range(Math.min(a[2], b[2]) - reach, Math.max(a[2], b[2]) + reach, grid.nz, grid.sz);
  const p: PointMm = [0, 0, 0];
  for (let k = k0; k <= k1; k++) {
    p[2] = (k - (grid.nz - 1) / 2) * grid.sz;
    for (let j = j0; j <= j1; j++) {
      p[1] = (j - (grid.ny - 1) / 2) * grid.sy;
      for (let i = i0; i <= i1; i++) {
        p[0] = (i - (grid.nx - 1) / 2) * grid.sx;
        visit(i + grid.nx * (j + grid.ny * k), p);
      }
    }
  }
}
