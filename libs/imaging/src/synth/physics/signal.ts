/**
 * MR signal from agent concentration: fast-exchange relaxation (R1 = R1₀ + r1·C) and the
 * steady-state spoiled gradient-echo equation used by T1-weighted 3-D DCE sequences
 * (VIBE / LAVA / THRIVE). Constants and sources: docs/SYNTHETIC.md.
 */

export type FieldStrength = 1.5 | 3;

/**
 * Gadoxetate (Gd-EOB-DTPA, Primovist/Eovist) T1 relaxivity in plasma at 37 °C, L/(mmol·s):
 * Rohrer M et al. 2005, Invest Radiol 40:715, Table 2.
 */
export const GADOXETATE_R1: Readonly<Record<FieldStrength, number>> = { 1.5: 6.9, 3: 6.2 };

/**
 * Gadoxetate's labelled dose (0.025 mmol/kg) relative to the 0.1 mmol/kg of Parker's AIF cohort:
 * the AIF is scaled by this (linear pharmacokinetics assumed).
 */
export const GADOXETATE_DOSE_SCALE = 0.25;

/**
 * A macrocyclic extracellular agent (gadobutrol, Gadovist/Gadavist) in plasma at 37 °C, L/(mmol·s):
 * Rohrer M et al. 2005, Invest Radiol 40:715, Table 2; dosed at 0.1 mmol/kg, Parker's own dose.
 */
export const EXTRACELLULAR_R1: Readonly<Record<FieldStrength, number>> = { 1.5: 5.2, 3: 5.0 };
export const EXTRACELLULAR_DOSE_SCALE = 1;

export interface SpgrSequence {
  /** Repetition time, ms. */
  trMs: number;
  /** Flip angle, degrees. */
  flipDeg: number;
}

/** S = M0 · sin α · (1 − E1) / (1 − cos α · E1), E1 = exp(−TR·R1), R1 in 1/s. */
export function spgrSignal(m0: number, r1PerSecond: number, seq: SpgrSequence): number {
  const alpha = (seq.flipDeg * Math.PI) / 180;
  const e1 = Math.exp((-seq.trMs / 1000) * r1PerSecond);
  return (m0 * Math.sin(alpha) * (1 - e1)) / (1 - Math.cos(alpha) * e1);
}

/** R1 (1/s) of tissue with baseline T1 (ms) holding `concentration` mM of agent with relaxivity r1. */
export function relaxationRate(t1Ms: number, r1: number, concentration: number): number {
  return 1000 / t1Ms + r1 * concentration;
}
