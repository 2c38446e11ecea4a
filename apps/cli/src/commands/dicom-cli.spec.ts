import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCohort, readNiftiSync } from '../../../../libs/imaging/src';
import { SyntheticSeries, writeMrSeries, writeSeg } from '../../../../libs/imaging/src/dicom/write-dicom';
import { lastJsonLine, runCliCaptured } from '../__tests__/run-cli';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'phcc-dicom-cli-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A 3-phase study exported as one series per phase, with a SEG of the tumour. */
function writeStudy(root: string, patient: string, uid: string): SyntheticSeries {
  const base: SyntheticSeries = {
    patientId: patient,
    studyUid: uid,
    seriesUid: `${uid}.1`,
    seriesNumber: 1,
    frameOfReferenceUid: `${uid}.9`,
    rows: 16,
    columns: 16,
    pixelSpacing: [1.5, 1.5],
    orientation: [1, 0, 0, 0, 1, 0],
    firstPosition: [-12, -12, -6],
    sliceSpacing: 3,
    slices: 5,
    value: () => 0,
  };
  [0, 30, 90].forEach((time, p) =>
    writeMrSeries(join(root, patient), {
      ...base,
      seriesUid: `${uid}.${p + 2}`,
      seriesNumber: p + 2,
      startTime: 36_000 + time,
      value: (i, j, k) => 50 + 20 * p + (i > 5 && i < 10 && j > 5 && j < 10 ? 30 * p : 0) + k,
      fileName: (index) => `s${p}/${(index * 7) % 5}`,
    }),
  );
  writeSeg(join(root, patient, 'seg.dcm'), base, [
    { number: 1, label: 'tumour', inside: (i, j, k) => i > 5 && i < 10 && j > 5 && j < 10 && k > 0 && k < 4 },
  ]);
  return base;
}

describe('phcc-fed on DICOM', () => {
  it('inspect prints the NIfTI keys plus phases and their times', async () => {
    writeStudy(dir, 'P1', '2.25.11');
    const { stdout, code } = await runCliCaptured(['inspect', join(dir, 'P1'), '--json']);
    expect(code).toBe(0);
    const json = lastJsonLine<Record<string, unknown>>(stdout);
    expect(json).toMatchObject({
      format: 'DICOM',
      dims: [16, 16, 5, 3],
      pixdim: [1.5, 1.5, 3, 0],
      datatype: 'int16',
      orientation: 'LAS',
      phaseTimes: [0, 30, 90],
      min: 50,
    });
    expect(json.max).toBe(50 + 40 + 60 + 4);
    expect(stdout).toMatch(/phase 2\s+30 s\s+series 3/);
  });

  it('convert writes the 4-D NIfTI, its sidecar and the SEG as a NIfTI mask', async () => {
    writeStudy(dir, 'P1', '2.25.11');
    const out = join(dir, 'out', 'P1.nii.gz');
    const maskOut = join(dir, 'out', 'P1_mask.nii.gz');
    const inspect = lastJsonLine<{ affine: number[][] }>(
      (await runCliCaptured(['inspect', join(dir, 'P1'), '--json'])).stdout,
    );
    mkdirSync(join(dir, 'out'));
    const { code, stdout } = await runCliCaptured([
      'convert',
      join(dir, 'P1'),
      '--out',
      out,
      '--mask',
      join(dir, 'P1'),
      '--mask-out',
      maskOut,
    ]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/SEG "tumour", 48 voxels/);
    const nifti = readNiftiSync(out);
    expect(nifti.dims).toEqual([16, 16, 5, 3]);
    expect(nifti.datatype).toBe('int16');
    expect(nifti.affine).toEqual(inspect.affine.map((row) => row.map((v) => Math.fround(v))));
    // Voxel (7, 16 − 1 − 7, 2) of phase 3 is inside the enhancing square: 50 + 40 + 60 + 2.
    expect(nifti.data[((2 * 5 + 2) * 16 + 8) * 16 + 7]).toBe(152);
    const mask = readNiftiSync(maskOut);
    expect(mask.data.reduce((a, b) => a + b, 0)).toBe(48);
    expect(JSON.parse(readFileSync(out.replace('.nii.gz', '.json'), 'utf8')).PhaseTimes).toEqual([0, 30, 90]);
    const again = await runCliCaptured(['convert', join(dir, 'P1'), '--out', out]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/exists \(use --force to overwrite\)/);
  });

  it('cohort build drafts a manifest the cohort loader reads, listing studies it cannot use', async () => {
    const pacs = join(dir, 'pacs');
    writeStudy(pacs, 'P1', '2.25.11');
    writeStudy(pacs, 'P2', '2.25.22');
    writeMrSeries(join(pacs, 'P3'), {
      ...writeStudy(join(dir, 'unused'), 'X', '2.25.99'),
      studyUid: '2.25.33',
      patientId: 'P3',
      seriesUid: '2.25.33.1',
      slices: 6,
      skipSlices: [2],
    });
    writeFileSync(join(pacs, 'README.txt'), 'not dicom');
    const manifest = join(dir, 'site', 'manifest.csv');
    mkdirSync(join(dir, 'site'));
    const { code, stdout } = await runCliCaptured(['cohort', 'build', pacs, '--out', manifest, '--json']);
    expect(code).toBe(0);
    const json = lastJsonLine<{ studies: number; problems: Array<{ patientId: string; reason: string }> }>(
      stdout,
    );
    expect(json.studies).toBe(2);
    expect(json.problems).toEqual([
      expect.objectContaining({ patientId: 'P3', reason: expect.stringMatching(/missing slice/) }),
    ]);
    const text = readFileSync(manifest, 'utf8');
    expect(text.split('\n')[0]).toBe(
      'patient_id,dce,mask,label,split,phase_times,study_uid,study_date,phases,notes',
    );
    expect(text).toContain('\nP1,../pacs/P1,../pacs/P1/seg.dcm,,train,0;30;90,2.25.11,20260101,3,');
    expect(text).toContain('../pacs/P2/seg.dcm,,train,0;30;90,2.25.22');
    // The draft sits beside the export, so its paths leave its folder: the loader must be told.
    expect(stdout).toContain('--allow-outside-paths');
    const cohort = await loadCohort(manifest, { phases: 3, size: 16, allowPathsOutside: true });
    expect(cohort.report.loaded).toBe(2);
    expect(cohort.report.skipped).toEqual([]);
  });
});
