import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCohort } from '../cohort/load-cohort';
import { readNiftiSync } from '../nifti/read';
import { writeNiftiSync } from '../nifti/write';
import { convertLldMmri, LLD_MMRI_PHASES } from './lld-mmri';

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'phcc-lld-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** A linear intensity ramp in world mm: trilinear resampling reproduces it exactly. */
const ramp = (x: number, y: number, z: number, phase: number) => 100 * (phase + 1) + 2 * x + 3 * y + z;

/** The challenge's layout, tiny: phases on different grids (C-pre at half resolution, shifted). */
function fakePatient(data: string, patient: string, category: number, boxPhase: string): void {
  const annotations = LLD_MMRI_PHASES.map((phase, t) => {
    const coarse = phase === 'C-pre';
    const [X, Y, Z] = coarse ? [10, 10, 6] : [20, 20, 6];
    const s = coarse ? 2 : 1;
    const origin = coarse ? [-0.5, -0.5, 0] : [0, 0, 0];
    const affine = [
      [s, 0, 0, origin[0]],
      [0, s, 0, origin[1]],
      [0, 0, 2, origin[2]],
      [0, 0, 0, 1],
    ];
    const data16 = new Int16Array(X * Y * Z);
    for (let k = 0; k < Z; k++)
      for (let j = 0; j < Y; j++)
        for (let i = 0; i < X; i++)
          data16[(k * Y + j) * X + i] = ramp(s * i + origin[0], s * j + origin[1], 2 * k, t);
    const dir = join(data, 'images', patient, 'study1');
    mkdirSync(dir, { recursive: true });
    writeNiftiSync(join(dir, `${phase}-series.nii.gz`), {
      dims: [X, Y, Z],
      affine,
      datatype: 'int16',
      data: data16,
    });
    const box = { x_min: 5, x_max: 9, y_min: 6, y_max: 8, z_min: 2, z_max: 3 };
    return {
      studyUID: 'study1',
      seriesUID: `${phase}-series`,
      phase,
      annotation: { lesion: phase === boxPhase ? { '0': { category, bbox: { '3D_box': box } } } : {} },
    };
  });
  const file = join(data, 'labels', 'Annotation.json');
  mkdirSync(join(data, 'labels'), { recursive: true });
  let info: Record<string, unknown> = {};
  try {
    info = JSON.parse(readFileSync(file, 'utf8')).Annotation_info;
  } catch {
    info = {};
  }
  writeFileSync(file, JSON.stringify({ Annotation_info: { ...info, [patient]: annotations } }));
}

describe('convertLldMmri', () => {
  it('writes 4-phase DCEs on the arterial grid, box masks and an HCC-vs-other proxy label', async () => {
    const data = join(root, 'LLD');
    fakePatient(data, 'MR001', 6, 'C+A');
    fakePatient(data, 'MR002', 0, 'C+V');
    const out = join(root, 'site');
    const summary = await convertLldMmri({ dataDir: data, outDir: out, testFraction: 0 });
    expect(summary).toMatchObject({ rows: 2, hcc: 1, skipped: [] });
    const manifest = readFileSync(summary.manifestPath, 'utf8').trim().split('\n');
    expect(manifest).toEqual([
      'patient_id,dce,mask,label,split,phase_times,lesion_category',
      'MR001,images/MR001_dce.nii.gz,images/MR001_mask.nii.gz,1,train,,6',
      'MR002,images/MR002_dce.nii.gz,images/MR002_mask.nii.gz,0,train,,0',
    ]);
    const dce = readNiftiSync(join(out, 'images', 'MR001_dce.nii.gz'));
    expect(dce.dims).toEqual([20, 20, 6, 4]);
    // Phase 0 came from the coarse, shifted grid: inside it, the ramp is reproduced exactly.
    const at = (i: number, j: number, k: number, t: number) => dce.data[((t * 6 + k) * 20 + j) * 20 + i];
    expect(at(7, 9, 3, 0)).toBe(ramp(7, 9, 6, 0));
    expect(at(7, 9, 3, 2)).toBe(ramp(7, 9, 6, 2));
    const mask = readNiftiSync(join(out, 'images', 'MR002_mask.nii.gz'));
    expect(mask.data.reduce((a, b) => a + b, 0)).toBe(4 * 2 * 2);
    const cohort = await loadCohort(out, { phases: 4, size: 16 });
    expect(cohort.report.loaded).toBe(2);
  });

  it('skips a patient without all four phases and says why', async () => {
    const data = join(root, 'LLD');
    fakePatient(data, 'MR001', 6, 'C+A');
    const file = join(data, 'labels', 'Annotation.json');
    const json = JSON.parse(readFileSync(file, 'utf8'));
    json.Annotation_info.MR001 = json.Annotation_info.MR001.filter(
      (s: { phase: string }) => s.phase !== 'C+V',
    );
    writeFileSync(file, JSON.stringify(json));
    const summary = await convertLldMmri({ dataDir: data, outDir: join(root, 'site') });
    expect(summary.skipped).toEqual([{ patient: 'MR001', reason: 'no C+V series' }]);
    await expect(convertLldMmri({ dataDir: root, outDir: join(root, 'x') })).rejects.toThrow(
      /Annotation\.json: not found/,
    );
  });
});
