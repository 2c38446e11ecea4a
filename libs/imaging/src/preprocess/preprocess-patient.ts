/** Single-patient preprocessing with known site statistics (predict, Grad-CAM, one-off checks). */
import { LoadedPatient } from '../cohort/load-patient';
import { CropMetadata, cropPatient, InputShape, PreprocessOptions } from './crop';
import { normaliseCrop, SiteNormalisation } from './normalise';

export interface PatientInput {
  shape: InputShape;
  input: Float32Array;
  meta: CropMetadata;
}

export function preprocessPatient(
  patient: LoadedPatient,
  normalisation: SiteNormalisation,
  options: PreprocessOptions = {},
): PatientInput {
  const crop = cropPatient(patient, options);
  normaliseCrop(crop.input, crop.shape, crop.shape[3] - 1, normalisation);
  return { shape: crop.shape, input: crop.input, meta: crop.meta };
}
