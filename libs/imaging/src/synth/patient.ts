/**
 * One synthetic patient, end to end: phenotype → physiology → phase times → anatomy → signals →
 * scanner → stored volumes. Depends only on (site, index), so patient k of a site is identical
 * however many patients are generated around it.
 */
import { Rng } from '../../../common/src';
import { Affine } from '../nifti/types';
import { Anatomy, drawAnatomy, Grid } from './anatomy';
import {
  computeKinetics,
  drawKineticParameters,
  drawPhaseTimes,
  KineticParameters,
  PatientKinetics,
} from './kinetics';
import { drawPhenotype, TumourPhenotype } from './phenotype';
import { spgrSignal } from './physics/signal';
import { childSeed, streamRng } from './seeds';
import { SiteProfile } from './sites';
import { BASELINE_T1_MS, PROTON_DENSITY } from './tissues';
import { paintVolume, PaintedVolume } from './volume';

export interface SyntheticPatient {
  /** `A0001`: site code + 1-based index. */
  id: string;
  index: number;
  site: string;
  phenotype: TumourPhenotype;
  kinetics: KineticParameters;
  phaseTimesS: number[];
  concentrations: PatientKinetics['concentration'];
  anatomy: Anatomy;
  grid: Grid;
  /** Voxel → world (mm), with the site's axis flips. */
  affine: Affine;
  volume: PaintedVolume;
}

/** Per-patient random streams: changing how one part draws never changes another part. */
export const PATIENT_STREAMS = { phenotype: 1, physiology: 2, timing: 3, anatomy: 4, image: 5 } as const;

export function siteGrid(site: SiteProfile): Grid {
  return {
    nx: site.matrix,
    ny: site.matrix,
    nz: site.slices,
    sx: site.inPlaneMm,
    sy: site.inPlaneMm,
    sz: site.sliceMm,
  };
}

/** World affine of the site's grid: voxel centres symmetric about the origin, axes flipped per site. */
export function siteAffine(site: SiteProfile, grid: Grid): Affine {
  const [fx, fy] = site.axisFlips;
  return [
    [fx * grid.sx, 0, 0, (-fx * grid.sx * (grid.nx - 1)) / 2],
    [0, fy * grid.sy, 0, (-fy * grid.sy * (grid.ny - 1)) / 2],
    [0, 0, grid.sz, (-grid.sz * (grid.nz - 1)) / 2],
    [0, 0, 0, 1],
  ];
}

/** Noise SD in stored units: the site's SNR is defined on nominal pre-contrast liver. */
export function siteNoiseSd(site: SiteProfile): number {
  const liverPre = spgrSignal(PROTON_DENSITY.liver, 1000 / BASELINE_T1_MS.liver[site.fieldStrength], {
    trMs: site.trMs,
    flipDeg: site.flipDeg,
  });
  return (site.gain * liverPre) / site.snr;
}

/**
 * scl_slope of the site's DCE files: noise spans ~3 stored units, so quantisation adds < 1 % of
 * the noise variance while the files stay compressible (random low bits do not gzip).
 */
export function siteStorageStep(site: SiteProfile): number {
  return Number((siteNoiseSd(site) / 3).toPrecision(3));
}

export function patientId(site: SiteProfile, index: number): string {
  return `${site.code}${String(index + 1).padStart(4, '0')}`;
}

/** Generate patient `index` (0-based) of `site`. `normals` is a shared table (see normalTable). */
export function generatePatient(site: SiteProfile, index: number, normals: Float32Array): SyntheticPatient {
  const seed = childSeed(site.seed, index);
  const phenotype = drawPhenotype(streamRng(seed, PATIENT_STREAMS.phenotype), site.prevalence);
  const kinetics = drawKineticParameters(streamRng(seed, PATIENT_STREAMS.physiology), phenotype);
  const phaseTimesS = drawPhaseTimes(streamRng(seed, PATIENT_STREAMS.timing), site, kinetics.arrivalS);
  const curves = computeKinetics(site, kinetics, phaseTimesS);
  const grid = siteGrid(site);
  const anatomy = drawAnatomy(streamRng(seed, PATIENT_STREAMS.anatomy), grid, phenotype);
  const imageRng: Rng = streamRng(seed, PATIENT_STREAMS.image);
  // Site coil profile plus a little per-patient variation (positioning, body habitus).
  const biasCoefficients = site.biasCoefficients.map(
    (c) => (site.biasAmplitude / 2) * c + imageRng.normal(0, 0.02),
  );
  const volume = paintVolume(
    imageRng,
    grid,
    anatomy,
    curves.signal,
    {
      gain: site.gain * imageRng.uniform(0.95, 1.05),
      noiseSd: siteNoiseSd(site),
      storageStep: siteStorageStep(site),
      biasCoefficients,
    },
    normals,
  );
  return {
    id: patientId(site, index),
    index,
    site: site.name,
    phenotype,
    kinetics,
    phaseTimesS,
    concentrations: curves.concentration,
    anatomy,
    grid,
    affine: siteAffine(site, grid),
    volume,
  };
}
