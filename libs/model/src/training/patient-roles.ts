import type { PatientSample } from './types';

// Which patients each stage may use. Kept apart from loops.ts, which loads TensorFlow.js, so that
// code that only sorts patients (compare's cut-offs, the CLI's option checks) starts without it.

/**
 * Patients held out of all training: the test split, and the validation split on which
 * thresholds are chosen (a threshold chosen on patients the model trained on is optimistic).
 */
export function isHeldOut(sample: PatientSample): boolean {
  return sample.split === 'test' || sample.split === 'val';
}

/** SSL uses every patient outside the test and validation splits, labelled or not. */
export function isSslPatient(sample: PatientSample): boolean {
  return !isHeldOut(sample);
}

/** Fine-tuning uses labelled patients outside the test and validation splits. */
export function isFinetunePatient(sample: PatientSample): boolean {
  return !isHeldOut(sample) && (sample.label === 0 || sample.label === 1);
}
