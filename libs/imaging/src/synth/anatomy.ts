/**
 * The patient's anatomy as soft-edged shapes in millimetres: a lobulated liver, vessel trees
 * (aorta, IVC, portal and hepatic veins) and one tumour with its necrotic core and capsule. Each
 * shape yields a partial-volume weight per voxel (0..1, one voxel wide ramp at its edge), which the
 * painter (volume.ts) uses to mix compartment signals.
 */
import { Rng } from '../../../common/src';
import { TumourPhenotype } from './phenotype';

export type PointMm = [number, number, number];

/** Voxel grid: sizes and spacing (mm); voxel centres at (i − (n−1)/2)·spacing. */
export interface Grid {
  nx: number;
  ny: number;
  nz: number;
  sx: number;
  sy: number;
  sz: number;
}

export interface LiverShape {
  centre: PointMm;
  semiAxes: PointMm;
  /** Quadratic deformation coefficients (xy, yz, xz, x²−y²): organ shape variation. */
  deform: [number, number, number, number];
}

export type VesselKind = 'arterialBlood' | 'portalBlood' | 'venousBlood';

export interface VesselSegment {
  kind: VesselKind;
  from: PointMm;
  to: PointMm;
  radiusFrom: number;
  radiusTo: number;
}

export interface TumourShape {
  centre: PointMm;
  radiusMm: number;
  /** Axis scales of the base ellipsoid. */
  axisScale: PointMm;
  /** Lobulation: unit directions, angular frequencies, phases and overall amplitude. */
  lobeDirections: PointMm[];
  lobeFrequencies: number[];
  lobePhases: number[];
  lobeAmplitude: number;
  necroticFraction: number;
  capsuleThicknessMm: number;
  capsuleStrength: number;
}

export interface Anatomy {
  liver: LiverShape;
  vessels: VesselSegment[];
  tumour: TumourShape;
}

export function voxelCentre(grid: Grid, i: number, j: number, k: number): PointMm {
  return [
    (i - (grid.nx - 1) / 2) * grid.sx,
    (j - (grid.ny - 1) / 2) * grid.sy,
    (k - (grid.nz - 1) / 2) * grid.sz,
  ];
}

/**
 * Normalised liver "radius" at p: < 1 inside, 1 on the surface. Multiplying (1 − ρ) by the
 * smallest semi-axis gives an approximate signed distance (mm) for the partial-volume ramp.
 */
export function liverRadius(liver: LiverShape, p: PointMm): number {
  const x = (p[0] - liver.centre[0]) / liver.semiAxes[0];
  const y = (p[1] - liver.centre[1]) / liver.semiAxes[1];
  const z = (p[2] - liver.centre[2]) / liver.semiAxes[2];
  const [dxy, dyz, dxz, dxx] = liver.deform;
  const q = x * x + y * y + z * z + dxy * x * y + dyz * y * z + dxz * x * z + dxx * (x * x - y * y);
  return Math.sqrt(Math.max(0, q));
}

/** Tumour boundary radius (mm) in the direction of the unit vector d from its centre. */
export function tumourBoundary(t: TumourShape, d: PointMm): number {
  const ex = d[0] / t.axisScale[0];
  const ey = d[1] / t.axisScale[1];
  const ez = d[2] / t.axisScale[2];
  const ellipsoid = 1 / Math.sqrt(ex * ex + ey * ey + ez * ez);
  let lobes = 0;
  for (let l = 0; l < t.lobeDirections.length; l++) {
    const u = t.lobeDirections[l];
    lobes += Math.cos(
      t.lobeFrequencies[l] * Math.PI * (d[0] * u[0] + d[1] * u[1] + d[2] * u[2]) + t.lobePhases[l],
    );
  }
  const scale = 1 + (t.lobeAmplitude * lobes) / Math.sqrt(t.lobeDirections.length);
  return t.radiusMm * ellipsoid * Math.max(0.45, scale);
}

function randomUnit(rng: Rng): PointMm {
  const v: PointMm = [rng.normal(), rng.normal(), rng.normal()];
  const n = Math.hypot(...v) || 1;
  return [v[0] / n, v[1] / n, v[2] / n];
}

const add = (a: PointMm, b: PointMm): PointMm => [a[0] + b[0], a[1] + b[1], a[2] + b[2]];

/** Draw one patient's anatomy within the site's field of view. */
export function drawAnatomy(rng: Rng, grid: Grid, phenotype: TumourPhenotype): Anatomy {
  const halfX = (grid.nx * grid.sx) / 2;
  const halfY = (grid.ny * grid.sy) / 2;
  const halfZ = (grid.nz * grid.sz) / 2;
  // The FOV is a liver-region crop: the liver fills most of it, its medial edge visible.
  const liver: LiverShape = {
    centre: [
      rng.uniform(0.2, 0.45) * halfX,
      rng.uniform(-0.1, 0.15) * halfY,
      rng.uniform(-0.15, 0.15) * halfZ,
    ],
    semiAxes: [rng.uniform(85, 105), rng.uniform(65, 85), rng.uniform(75, 95)],
    deform: [
      rng.uniform(-0.3, 0.3),
      rng.uniform(-0.2, 0.2),
      rng.uniform(-0.2, 0.2),
      rng.uniform(-0.15, 0.15),
    ],
  };
  const vessels = drawVessels(rng, liver, halfX, halfY, halfZ);
  const tumour = drawTumour(rng, grid, liver, phenotype);
  return { liver, vessels, tumour };
}

function drawVessels(
  rng: Rng,
  liver: LiverShape,
  halfX: number,
  halfY: number,
  halfZ: number,
): VesselSegment[] {
  const [cx, cy, cz] = liver.centre;
  const [ax, ay, az] = liver.semiAxes;
  const span = halfZ * 2 + 40;
  // Posterior and medial, kept inside the FOV: the arterial reference a reader looks for.
  const aorta: PointMm = [
    -halfX + rng.uniform(10, 25),
    Math.min(halfY - 12, cy + ay * rng.uniform(0.45, 0.6)),
    0,
  ];
  const ivc: PointMm = [cx - ax * rng.uniform(0.35, 0.5), cy + ay * rng.uniform(0.55, 0.7), 0];
  const vessels: VesselSegment[] = [
    vertical('arterialBlood', aorta, span, rng.uniform(9, 12)),
    vertical('venousBlood', ivc, span, rng.uniform(9, 12)),
  ];
  // Portal vein: trunk entering at the hilum, two generations of branches.
  const hilum: PointMm = [cx - ax * 0.3, cy + ay * 0.1, cz - az * 0.25];
  vessels.push({
    kind: 'portalBlood',
    from: add(hilum, [-20, 8, -35]),
    to: hilum,
    radiusFrom: 7,
    radiusTo: 6.5,
  });
  const branchTree = (from: PointMm, dir: PointMm, length: number, radius: number, depth: number) => {
    const to = add(from, [dir[0] * length, dir[1] * length, dir[2] * length]);
    vessels.push({ kind: 'portalBlood', from, to, radiusFrom: radius, radiusTo: radius * 0.75 });
    if (depth === 0) return;
    for (let b = 0; b < 2; b++) {
      const jitter = randomUnit(rng);
      const d = add(dir, [jitter[0] * 0.7, jitter[1] * 0.7, jitter[2] * 0.7]);
      const n = Math.hypot(...d);
      branchTree(to, [d[0] / n, d[1] / n, d[2] / n], length * 0.7, radius * 0.7, depth - 1);
    }
  };
  branchTree(hilum, [0.9, -0.2, 0.35], ax * rng.uniform(0.45, 0.6), 5.5, 2);
  branchTree(hilum, [-0.6, -0.5, 0.5], ax * rng.uniform(0.3, 0.4), 4.5, 1);
  // Hepatic veins converge on the IVC at the dome.
  const confluence: PointMm = [ivc[0], ivc[1], cz + az * 0.45];
  for (const angle of [-0.5, 0.2, 0.9]) {
    const length = ax * rng.uniform(0.5, 0.75);
    const tip: PointMm = add(confluence, [
      length * Math.cos(angle + rng.uniform(-0.2, 0.2)),
      -length * Math.abs(Math.sin(angle + 0.8)) * 0.6,
      -length * rng.uniform(0.3, 0.6),
    ]);
    vessels.push({ kind: 'venousBlood', from: confluence, to: tip, radiusFrom: 5.5, radiusTo: 2.5 });
  }
  return vessels;
}

function vertical(kind: VesselKind, at: PointMm, span: number, radius: number): VesselSegment {
  return {
    kind,
    from: [at[0], at[1], -span / 2],
    to: [at[0], at[1], span / 2],
    radiusFrom: radius,
    radiusTo: radius,
  };
}

function drawTumour(rng: Rng, grid: Grid, liver: LiverShape, phenotype: TumourPhenotype): TumourShape {
  const radiusMm = phenotype.diameterMm / 2;
  const halfX = (grid.nx * grid.sx) / 2;
  const halfY = (grid.ny * grid.sy) / 2;
  const halfZ = (grid.nz * grid.sz) / 2;
  // Centre inside the liver, away from its surface, and within the central slices so the
  // tumour's largest section is imaged.
  let centre: PointMm = [liver.centre[0], liver.centre[1], 0];
  for (let attempt = 0; attempt < 200; attempt++) {
    const p: PointMm = [
      rng.uniform(-0.6, 0.6) * halfX,
      rng.uniform(-0.6, 0.6) * halfY,
      rng.uniform(-0.3, 0.3) * halfZ,
    ];
    const margin = radiusMm / Math.min(...liver.semiAxes);
    if (liverRadius(liver, p) < 0.85 - margin) {
      centre = p;
      break;
    }
  }
  const lobes = 5;
  return {
    centre,
    radiusMm,
    axisScale: [rng.uniform(0.85, 1.15), rng.uniform(0.85, 1.15), rng.uniform(0.85, 1.15)],
    lobeDirections: Array.from({ length: lobes }, () => randomUnit(rng)),
    lobeFrequencies: Array.from({ length: lobes }, () => rng.uniform(1.5, 4.5)),
    lobePhases: Array.from({ length: lobes }, () => rng.uniform(0, 2 * Math.PI)),
    lobeAmplitude: 0.03 + 0.25 * phenotype.marginIrregularity,
    necroticFraction: phenotype.necroticFraction,
    capsuleThicknessMm: 0.8 + 2.2 * phenotype.capsuleStrength,
    capsuleStrength: phenotype.capsuleStrength,
  };
}
