import { LoadedCohort } from '../../../../libs/imaging/src';
import { PatientSample } from '../../../../libs/model/src/training';
import { SiteData } from './model-executors';

/**
 * The cohort's preprocessed patients as training samples, read in one pass on first use and
 * kept in memory (≈0.4 MB a patient at 64×64×4×6) so that every round does not re-read NIfTI.
 */
export function cohortData(cohort: LoadedCohort): SiteData {
  let loading: Promise<PatientSample[]> | undefined;
  return () => {
    loading ??= (async () => {
      const samples: PatientSample[] = [];
      for await (const p of cohort.patients()) {
        samples.push({
          id: p.patientId,
          label: p.label,
          split: p.split,
          x: p.input,
          phaseTimes: p.meta.phaseTimes,
        });
      }
      return samples;
    })();
    return loading;
  };
}
