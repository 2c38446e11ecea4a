/**
 * Baseline relaxation and proton density of the tissues the generator paints. Sources are in
 * docs/SYNTHETIC.md; values marked "chosen" there have no single literature source.
 */
import { FieldStrength } from './physics/signal';

export type TissueName = 'background' | 'liver' | 'blood' | 'tumour' | 'necrosis' | 'capsule';

/** Native T1 (ms) per field strength. */
export const BASELINE_T1_MS: Readonly<Record<TissueName, Readonly<Record<FieldStrength, number>>>> = {
  liver: { 1.5: 586, 3: 809 }, // de Bazelaire 2004, Radiology 230:652
  background: { 1.5: 1008, 3: 1412 }, // skeletal muscle, de Bazelaire 2004
  blood: { 1.5: 1441, 3: 1932 }, // Stanisz 2005, MRM 54:507
  tumour: { 1.5: 1100, 3: 1300 }, // HCC, chosen within the 1000–1300 ms range reported for HCC
  necrosis: { 1.5: 2000, 3: 2500 }, // fluid-like necrosis, chosen
  capsule: { 1.5: 1000, 3: 1250 }, // fibrous capsule, chosen
};

/** Relative proton density (M0 before the scanner's gain), chosen for realism. */
export const PROTON_DENSITY: Readonly<Record<TissueName, number>> = {
  liver: 0.7,
  background: 0.72,
  blood: 0.9,
  tumour: 0.8,
  necrosis: 0.95,
  capsule: 0.75,
};
