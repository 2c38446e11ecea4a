/**
 * Tissue concentration curves: the extended Tofts model (Tofts PS et al. 1999, JMRI 10:223),
 * the dual (hepatic artery + portal vein) input of the liver (Materne R et al. 2000, Clin Sci
 * 99:517), and intracellular uptake of gadoxetate by hepatocytes (the uptake compartment of
 * Sourbron S et al. 2012, Radiology 263:874), all on one fine time grid.
 */
import { Curve, exponentialConvolution } from './aif';

export interface ToftsParameters {
  /** Volume transfer constant plasma → extravascular extracellular space (1/min). */
  ktrans: number;
  /** Extravascular extracellular volume fraction (0..1). */
  ve: number;
  /** Plasma volume fraction (0..1). */
  vp: number;
}

/** Ct = vp·Cp + Ktrans ∫ Cp(τ) e^{-kep (t-τ)} dτ with kep = Ktrans / ve. */
export function extendedTofts(plasma: Curve, p: ToftsParameters): Curve {
  if (!(p.ve > 0)) throw new RangeError(`extended Tofts needs ve > 0 (got ${p.ve})`);
  const leak = exponentialConvolution(plasma, p.ktrans / p.ve, p.ktrans);
  const values = new Float64Array(plasma.values.length);
  for (let i = 0; i < values.length; i++) values[i] = p.vp * plasma.values[i] + leak.values[i];
  return { dt: plasma.dt, values };
}

/** Weighted sum of an arterial and a portal plasma curve: the blood a liver voxel actually receives. */
export function dualInput(arterial: Curve, portal: Curve, arterialFraction: number): Curve {
  if (arterial.dt !== portal.dt || arterial.values.length !== portal.values.length) {
    throw new RangeError('dual input needs arterial and portal curves on the same grid');
  }
  const values = new Float64Array(arterial.values.length);
  for (let i = 0; i < values.length; i++) {
    values[i] = arterialFraction * arterial.values[i] + (1 - arterialFraction) * portal.values[i];
  }
  return { dt: arterial.dt, values };
}

export interface HepatocyteUptake {
  /** Uptake rate from plasma into hepatocytes (1/min); 0 = no functioning hepatocytes. */
  uptakeRate: number;
  /** Biliary efflux rate out of hepatocytes (1/min). */
  effluxRate: number;
}

/**
 * Agent inside hepatocytes, per unit tissue volume: Ch = k_hep ∫ Cp(τ) e^{-k_ef (t-τ)} dτ.
 * This is what makes the liver bright and a tumour that lost its OATP transporters dark in the
 * hepatobiliary phase.
 */
export function hepatocyteUptake(plasma: Curve, h: HepatocyteUptake): Curve {
  return exponentialConvolution(plasma, h.effluxRate, h.uptakeRate);
}

/** Element-wise sum of curves on one grid. */
export function addCurves(a: Curve, b: Curve): Curve {
  const values = new Float64Array(a.values.length);
  for (let i = 0; i < values.length; i++) values[i] = a.values[i] + b.values[i];
  return { dt: a.dt, values };
}

/** The curve times a constant (e.g. plasma → whole blood: × (1 − hematocrit)). */
export function scaleCurve(a: Curve, factor: number): Curve {
  return { dt: a.dt, values: a.values.map((v) => v * factor) };
}
