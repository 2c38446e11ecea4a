/**
 * One patient's contrast kinetics: phase times, then agent concentration and SPGR signal of every
 * tissue compartment at each phase. Pure given its parameters; the image painter only mixes the
 * per-compartment signals this returns.
 */
import { Rng } from '../../../common/src';
import { bloodAif, Curve, curveAt, delayCurve, disperseCurve, HEMATOCRIT, sampleCurve } from './physics/aif';
import {
  EXTRACELLULAR_DOSE_SCALE,
  EXTRACELLULAR_R1,
  GADOXETATE_DOSE_SCALE,
  GADOXETATE_R1,
  relaxationRate,
  SpgrSequence,
  spgrSignal,
} from './physics/signal';
import {
  addCurves,
  dualInput,
  extendedTofts,
  hepatocyteUptake,
  scaleCurve,
  ToftsParameters,
} from './physics/tissue';
import { TumourPhenotype } from './phenotype';
import { SiteProfile } from './sites';
import { BASELINE_T1_MS, PROTON_DENSITY, TissueName } from './tissues';

/** The six phases, in acquisition order (also the 4th axis of the DCE NIfTI). */
export const PHASE_NAMES = [
  'pre',
  'early_arterial',
  'late_arterial',
  'portal_venous',
  'transitional',
  'hepatobiliary',
] as const;

/** The extracellular-agent protocol's four phases, in acquisition order. */
export const EXTRACELLULAR_PHASE_NAMES = ['pre', 'arterial', 'portal_venous', 'delayed'] as const;

/** Phase names of a site's protocol. */
export function phaseNamesOf(agent: SiteProfile['agent']): readonly string[] {
  return agent === 'extracellular' ? EXTRACELLULAR_PHASE_NAMES : PHASE_NAMES;
}

/** What the painter mixes: each compartment has one signal per phase. */
export const COMPARTMENTS = [
  'background',
  'liver',
  'arterialBlood',
  'portalBlood',
  'venousBlood',
  'capsule',
  'tumour',
  'necrosis',
] as const;
export type Compartment = (typeof COMPARTMENTS)[number];

const TISSUE_OF: Record<Compartment, TissueName> = {
  background: 'background',
  liver: 'liver',
  arterialBlood: 'blood',
  portalBlood: 'blood',
  venousBlood: 'blood',
  capsule: 'capsule',
  tumour: 'tumour',
  necrosis: 'necrosis',
};

/** Transit from aorta to portal vein through the gut and spleen, minutes (chosen for realism). */
export const PORTAL_DELAY_MIN = 0.2;
export const PORTAL_DISPERSION_MIN = 0.25;
/** Systemic venous return (hepatic veins, IVC), minutes (chosen for realism). */
export const VENOUS_DELAY_MIN = 0.25;
export const VENOUS_DISPERSION_MIN = 0.35;
/** Simulation grid step, minutes (0.5 s: well below any curve's time scale). */
export const GRID_STEP_MIN = 1 / 120;

export interface KineticParameters {
  /** Bolus arrival in the aorta, seconds after injection. */
  arrivalS: number;
  liver: ToftsParameters & { arterialFraction: number; uptakeRate: number; effluxRate: number };
  tumour: ToftsParameters & { arterialFraction: number; uptakeRate: number };
  necrosis: ToftsParameters;
  capsule: ToftsParameters & { arterialFraction: number };
  background: ToftsParameters;
  /** Per-patient jitter of each tissue's native T1 (multiplicative). */
  t1Scale: number;
}

export interface PatientKinetics {
  /** Seconds after injection of each phase's k-space centre (pre-contrast = 0). */
  phaseTimesS: number[];
  /** mM per compartment per phase (whole blood for vessels, tissue for the rest). */
  concentration: Record<Compartment, number[]>;
  /** SPGR signal (M0 units, before gain and bias) per compartment per phase. */
  signal: Record<Compartment, number[]>;
}

const lognormal = (rng: Rng, median: number, sd: number) => median * Math.exp(rng.normal(0, sd));

/** Per-patient physiology (nuisance variation that is the same for both classes). */
export function drawKineticParameters(rng: Rng, phenotype: TumourPhenotype): KineticParameters {
  const liverUptake = 0.1 * rng.uniform(0.6, 1.2); // background liver disease lowers uptake
  const tumourKtrans = lognormal(rng, 1.1, 0.2);
  const tumourVe = Math.min(0.6, Math.max(0.08, tumourKtrans / phenotype.tumourKep));
  return {
    arrivalS: Math.min(26, Math.max(12, rng.normal(18, 3))),
    liver: {
      ktrans: lognormal(rng, 1.2, 0.15),
      ve: rng.uniform(0.2, 0.3),
      vp: rng.uniform(0.08, 0.14),
      arterialFraction: rng.uniform(0.2, 0.3),
      uptakeRate: liverUptake,
      effluxRate: 0.01,
    },
    tumour: {
      ktrans: tumourKtrans,
      ve: tumourVe,
      vp: rng.uniform(0.08, 0.18),
      arterialFraction: rng.uniform(0.8, 1),
      uptakeRate: liverUptake * phenotype.hepatocyteFraction,
    },
    necrosis: { ktrans: 0.02, ve: 0.4, vp: 0.005 },
    capsule: { ktrans: lognormal(rng, 0.3, 0.2), ve: 0.6, vp: 0.02, arterialFraction: 0.5 },
    background: { ktrans: 0.08, ve: 0.12, vp: 0.03 },
    t1Scale: rng.uniform(0.95, 1.05),
  };
}

/** Phase times (s after injection) from the site protocol plus this patient's jitter. */
export function drawPhaseTimes(rng: Rng, site: SiteProfile, arrivalS: number): number[] {
  const t = site.timing;
  if (site.agent === 'extracellular') {
    // Late arterial, portal venous and the transitional time as the delayed phase (~3 min).
    return [
      0,
      arrivalS + t.lateArterialAfterArrival + rng.normal(0, 2.5),
      t.portalVenous + rng.normal(0, 5),
      t.transitional + rng.normal(0, 10),
    ].map((x, i) => (i === 0 ? 0 : Math.round(Math.max(1, x) * 10) / 10));
  }
  return [
    0,
    arrivalS + t.earlyArterialAfterArrival + rng.normal(0, 1.5),
    arrivalS + t.lateArterialAfterArrival + rng.normal(0, 2.5),
    t.portalVenous + rng.normal(0, 5),
    t.transitional + rng.normal(0, 10),
    t.hepatobiliary + rng.normal(0, 30),
  ].map((x, i) => (i === 0 ? 0 : Math.round(Math.max(1, x) * 10) / 10));
}

/** Concentrations and signals of every compartment at the given phase times. */
export function computeKinetics(
  site: SiteProfile,
  params: KineticParameters,
  phaseTimesS: number[],
): PatientKinetics {
  const duration = Math.max(...phaseTimesS) / 60 + 0.5;
  // An extracellular agent is not taken up by hepatocytes: no uptake term in liver or tumour.
  const extracellular = site.agent === 'extracellular';
  const uptake = (rate: number) => (extracellular ? 0 : rate);
  const arrival = params.arrivalS / 60;
  const arterialPlasma = sampleCurve(
    (t) =>
      bloodAif(t - arrival, extracellular ? EXTRACELLULAR_DOSE_SCALE : GADOXETATE_DOSE_SCALE) /
      (1 - HEMATOCRIT),
    duration,
    GRID_STEP_MIN,
  );
  const portalPlasma = disperseCurve(delayCurve(arterialPlasma, PORTAL_DELAY_MIN), PORTAL_DISPERSION_MIN);
  const venousPlasma = disperseCurve(delayCurve(arterialPlasma, VENOUS_DELAY_MIN), VENOUS_DISPERSION_MIN);
  const liverInput = dualInput(arterialPlasma, portalPlasma, params.liver.arterialFraction);
  const tumourInput = dualInput(arterialPlasma, portalPlasma, params.tumour.arterialFraction);
  const capsuleInput = dualInput(arterialPlasma, portalPlasma, params.capsule.arterialFraction);
  const toBlood = 1 - HEMATOCRIT;

  const curves: Record<Compartment, Curve> = {
    background: extendedTofts(arterialPlasma, params.background),
    liver: addCurves(
      extendedTofts(liverInput, params.liver),
      hepatocyteUptake(liverInput, { ...params.liver, uptakeRate: uptake(params.liver.uptakeRate) }),
    ),
    arterialBlood: scaleCurve(arterialPlasma, toBlood),
    portalBlood: scaleCurve(portalPlasma, toBlood),
    venousBlood: scaleCurve(venousPlasma, toBlood),
    capsule: extendedTofts(capsuleInput, params.capsule),
    tumour: addCurves(
      extendedTofts(tumourInput, params.tumour),
      hepatocyteUptake(tumourInput, {
        uptakeRate: uptake(params.tumour.uptakeRate),
        effluxRate: params.liver.effluxRate,
      }),
    ),
    necrosis: extendedTofts(arterialPlasma, params.necrosis),
  };

  const r1 = (extracellular ? EXTRACELLULAR_R1 : GADOXETATE_R1)[site.fieldStrength];
  const sequence: SpgrSequence = { trMs: site.trMs, flipDeg: site.flipDeg };
  const concentration = {} as Record<Compartment, number[]>;
  const signal = {} as Record<Compartment, number[]>;
  for (const c of COMPARTMENTS) {
    const tissue = TISSUE_OF[c];
    const t1 = BASELINE_T1_MS[tissue][site.fieldStrength] * params.t1Scale;
    concentration[c] = phaseTimesS.map((s, i) => (i === 0 ? 0 : curveAt(curves[c], s / 60)));
    signal[c] = concentration[c].map((conc) =>
      spgrSignal(PROTON_DENSITY[tissue], relaxationRate(t1, r1, conc), sequence),
    );
  }
  return { phaseTimesS, concentration, signal };
}
