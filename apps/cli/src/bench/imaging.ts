import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { loadCohort } from '../../../../libs/imaging/src/cohort/load-cohort';
import { encodeNifti } from '../../../../libs/imaging/src/nifti/write';
import {
  cohortSites,
  generateCohort,
  generatePatient,
  normalTable,
} from '../../../../libs/imaging/src/synth';
import { Rng } from '../../../../libs/common/src';
import { benchDicomRead } from './dicom';
import { BenchFigures, BenchSuite } from './suite';

/** The Imaging issue's targets on the reference machine (2 cores). */
const SYNTH_TARGET_S = 60;
const LOAD_TARGET_S = 20;
const SITES = 3;

/**
 * `bench imaging`: time `synth` for 3 sites × 120 patients and loading + preprocessing one
 * 120-patient site (both against the targets), with a same-run baseline: the time to
 * only gzip one patient's bytes, the floor any NIfTI writer pays.
 */
export const imagingSuite: BenchSuite = {
  async run(options) {
    const { log, print, quick } = options;
    const patients = quick ? 20 : 120;
    const figures: BenchFigures = await benchDicomRead(options);
    const dir = mkdtempSync(join(tmpdir(), 'phcc-bench-imaging-'));
    try {
      // Baseline: gzip (level 1, as synth writes) of one representative patient's DCE bytes.
      const site = cohortSites(1, 1)[0];
      const sample = generatePatient(site, 0, normalTable(new Rng(1)));
      const raw = encodeNifti({
        dims: [sample.grid.nx, sample.grid.ny, sample.grid.nz, 6],
        affine: sample.affine,
        datatype: 'int16',
        data: sample.volume.stored,
        sclSlope: sample.volume.sclSlope,
      });
      const reps = quick ? 3 : 10;
      let t = performance.now();
      for (let r = 0; r < reps; r++) gzipSync(raw, { level: 1 });
      const gzipMs = (performance.now() - t) / reps;
      print(
        `baseline: gzip one patient's DCE (${(raw.length / 1e6).toFixed(1)} MB raw): ${gzipMs.toFixed(0)} ms`,
      );

      t = performance.now();
      const cohort = await generateCohort({ outDir: dir, sites: SITES, patients, seed: 1, log });
      const synthS = (performance.now() - t) / 1000;
      const perPatientMs = (synthS * 1000) / (SITES * patients);
      const writtenMb = directoryBytes(dir) / 1e6;
      print(
        `synth ${SITES} × ${patients} patients: ${synthS.toFixed(1)} s (${perPatientMs.toFixed(0)} ms/patient, ` +
          `${(perPatientMs / gzipMs).toFixed(1)}× the gzip baseline), ${writtenMb.toFixed(0)} MB written`,
      );
      if (quick) {
        print(
          `  quick run: ${SITES} × 120 would take ≈ ${((perPatientMs * SITES * 120) / 1000).toFixed(0)} s (target < ${SYNTH_TARGET_S} s)`,
        );
      } else {
        print(
          `  target < ${SYNTH_TARGET_S} s: ${(synthS / SYNTH_TARGET_S).toFixed(2)} of the budget ${synthS < SYNTH_TARGET_S ? '(met)' : '(NOT met)'}`,
        );
      }

      const siteDir = cohort.sites[0].dir;
      t = performance.now();
      const loaded = await loadCohort(siteDir, { log });
      let n = 0;
      for await (const patient of loaded.patients()) if (patient.input.length > 0) n++;
      const loadS = (performance.now() - t) / 1000;
      print(
        `load + preprocess ${cohort.sites[0].profile.name} (${n} of ${patients} patients): ${loadS.toFixed(1)} s`,
      );
      if (quick) {
        print(
          `  quick run: 120 patients would take ≈ ${((loadS * 120) / patients).toFixed(1)} s (target < ${LOAD_TARGET_S} s)`,
        );
      } else {
        print(
          `  target < ${LOAD_TARGET_S} s: ${(loadS / LOAD_TARGET_S).toFixed(2)} of the budget ${loadS < LOAD_TARGET_S ? '(met)' : '(NOT met)'}`,
        );
      }

      Object.assign(figures, {
        imaging_patients_per_site: patients,
        imaging_gzip_baseline_ms: round(gzipMs),
        imaging_synth_s: round(synthS),
        imaging_synth_ms_per_patient: round(perPatientMs),
        imaging_synth_vs_gzip_baseline: round(perPatientMs / gzipMs),
        imaging_synth_mb_written: round(writtenMb),
        imaging_load_preprocess_s: round(loadS),
        imaging_load_patients: n,
        imaging_synth_3x120_target_ratio: quick ? null : round(synthS / SYNTH_TARGET_S),
        imaging_load_120_target_ratio: quick ? null : round(loadS / LOAD_TARGET_S),
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return figures;
  },
};

function round(x: number): number {
  return Number(x.toFixed(3));
}

function directoryBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? directoryBytes(path) : statSync(path).size;
  }
  return total;
}
