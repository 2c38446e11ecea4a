import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError, Rng } from '../../../common/src';
import { writeNiftiSync } from '../nifti/write';
import { Affine } from '../nifti/types';
import { loadCohort } from './load-cohort';
import { formatCohortReport } from './report';

const DIMS: [number, number, number] = [24, 20, 8];
const PHASES = 6;
const AFFINE: Affine = [
  [-1.5, 0, 0, 100],
  [0, -1.5, 0, 80],
  [0, 0, 4, -30],
  [0, 0, 0, 1],
];

/** Liver-like background 100 + 10·t (+ noise), tumour 300 + 50·t, tumour box x 8..13, y 6..11, z 3..5. */
function makePatient(rng: Rng, phaseValue = (t: number) => t) {
  const [nx, ny, nz] = DIMS;
  const n = nx * ny * nz;
  const dce = new Float32Array(n * PHASES);
  const mask = new Uint8Array(n);
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++) {
        const i = x + nx * (y + ny * z);
        // Slice 4 has the largest cross-section; 3 and 5 are smaller.
        const inner = z === 4 ? 0 : 1;
        if (z >= 3 && z <= 5 && x >= 8 + inner && x <= 13 - inner && y >= 6 + inner && y <= 11 - inner)
          mask[i] = 1;
      }
    }
  }
  for (let t = 0; t < PHASES; t++) {
    const p = phaseValue(t);
    for (let i = 0; i < n; i++) dce[t * n + i] = mask[i] ? 300 + 50 * p : 100 + 10 * p + rng.normal() * 5;
  }
  return { dce, mask };
}

describe('loadCohort', () => {
  let dir: string;
  const rng = new Rng(7);

  const write4d = (name: string, dce: Float32Array, affine = AFFINE, dims: number[] = [...DIMS, PHASES]) =>
    writeNiftiSync(join(dir, name), { dims, affine, datatype: 'float32', data: dce });
  const writeMask = (name: string, mask: Uint8Array, affine = AFFINE, dims: number[] = DIMS) =>
    writeNiftiSync(join(dir, name), { dims, affine, datatype: 'uint8', data: mask });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'phcc-cohort-'));
    const good = (id: string) => {
      const p = makePatient(rng);
      write4d(`${id}_dce.nii.gz`, p.dce);
      writeMask(`${id}_mask.nii.gz`, p.mask);
      return p;
    };
    good('p01');
    good('p02');
    good('p03');
    good('p04');
    // p05: one 3-D file per phase, stored in reverse time order, with phase_times to reorder them.
    const p5 = makePatient(rng);
    const n = DIMS[0] * DIMS[1] * DIMS[2];
    for (let t = 0; t < PHASES; t++) {
      const stored = PHASES - 1 - t;
      writeNiftiSync(join(dir, `p05_ph${stored}.nii.gz`), {
        dims: DIMS,
        affine: AFFINE,
        datatype: 'float32',
        data: p5.dce.slice(t * n, (t + 1) * n),
      });
    }
    writeMask('p05_mask.nii.gz', p5.mask);
    // Broken patients, one per validation rule.
    const bad = makePatient(rng);
    write4d('shifted_dce.nii.gz', bad.dce);
    writeMask('shifted_mask.nii.gz', bad.mask, [
      [-1.5, 0, 0, 102],
      [0, -1.5, 0, 80],
      [0, 0, 4, -30],
      [0, 0, 0, 1],
    ]);
    write4d('small_dce.nii.gz', bad.dce);
    writeMask('small_mask.nii.gz', bad.mask.subarray(0, 24 * 20 * 7), AFFINE, [24, 20, 7]);
    write4d('empty_dce.nii.gz', bad.dce);
    writeMask('empty_mask.nii.gz', new Uint8Array(bad.mask.length));
    write4d('four_dce.nii.gz', bad.dce.subarray(0, n * 4), AFFINE, [...DIMS, 4]);
    writeMask('four_mask.nii.gz', bad.mask);
    const nan = bad.dce.slice();
    nan[2 * n + 5] = NaN;
    write4d('nan_dce.nii.gz', nan);
    writeMask('nan_mask.nii.gz', bad.mask);
    writeFileSync(join(dir, 'garbage.nii.gz'), 'this is not an image');
    writeMask('garbage_mask.nii.gz', bad.mask);
    // Per-phase files where phase 2 is on another grid (one slice fewer).
    writeNiftiSync(join(dir, 'grid_ph0.nii.gz'), {
      dims: DIMS,
      affine: AFFINE,
      datatype: 'float32',
      data: bad.dce.slice(0, n),
    });
    writeNiftiSync(join(dir, 'grid_ph1.nii.gz'), {
      dims: [24, 20, 7],
      affine: AFFINE,
      datatype: 'float32',
      data: bad.dce.slice(0, 24 * 20 * 7),
    });

    const manifest = [
      'patient_id,dce,mask,label,split,phase_times',
      'p01,p01_dce.nii.gz,p01_mask.nii.gz,1,train,',
      'p02,p02_dce.nii.gz,p02_mask.nii.gz,0,train,',
      'p03,p03_dce.nii.gz,p03_mask.nii.gz,,train,',
      'p04,p04_dce.nii.gz,p04_mask.nii.gz,1,test,',
      `p05,${[0, 1, 2, 3, 4, 5].map((k) => `p05_ph${k}.nii.gz`).join(';')},p05_mask.nii.gz,0,test,${[300, 240, 120, 60, 30, -10].join(';')}`,
      'missing,nowhere.nii.gz,p01_mask.nii.gz,1,train,',
      'garbage,garbage.nii.gz,garbage_mask.nii.gz,1,train,',
      'shifted,shifted_dce.nii.gz,shifted_mask.nii.gz,1,train,',
      'small,small_dce.nii.gz,small_mask.nii.gz,0,train,',
      'empty,empty_dce.nii.gz,empty_mask.nii.gz,0,train,',
      'four,four_dce.nii.gz,four_mask.nii.gz,0,train,',
      'nan,nan_dce.nii.gz,nan_mask.nii.gz,1,test,',
      'badlabel,p01_dce.nii.gz,p01_mask.nii.gz,2,train,',
      'badsplit,p01_dce.nii.gz,p01_mask.nii.gz,1,validation,',
      'p01,p01_dce.nii.gz,p01_mask.nii.gz,1,train,',
      'badtimes,p01_dce.nii.gz,p01_mask.nii.gz,1,train,0;30;60',
      'grid,grid_ph0.nii.gz;grid_ph1.nii.gz,p01_mask.nii.gz,1,train,',
      'nomask,p01_dce.nii.gz,gone_mask.nii.gz,0,test,',
    ];
    writeFileSync(join(dir, 'manifest.csv'), manifest.join('\n') + '\n');
  });
  afterAll(() => {
    if (!process.env.KEEP) rmSync(dir, { recursive: true, force: true });
    else console.log('DIR', dir);
  });

  it('reports every bad row with its line, id and reason, and loads the rest', async () => {
    const cohort = await loadCohort(dir);
    const { report } = cohort;
    expect(report.rows).toBe(18);
    expect(report.loaded).toBe(5);
    const reasons = Object.fromEntries(report.skipped.map((s) => [`${s.row}:${s.patientId}`, s.reason]));
    expect(Object.keys(reasons)).toEqual([
      '7:missing',
      '8:garbage',
      '9:shifted',
      '10:small',
      '11:empty',
      '12:four',
      '13:nan',
      '14:badlabel',
      '15:badsplit',
      '16:p01',
      '17:badtimes',
      '18:grid',
      '19:nomask',
    ]);
    expect(reasons['7:missing']).toBe('missing DCE file nowhere.nii.gz');
    expect(reasons['8:garbage']).toMatch(/^unreadable DCE NIfTI garbage\.nii\.gz: not a NIfTI/);
    expect(reasons['9:shifted']).toMatch(
      /mask affine differs from the DCE affine by 2\.00 mm \(origin x: 102 vs 100/,
    );
    expect(reasons['10:small']).toBe('mask dims 24×20×7 differ from the DCE grid 24×20×8');
    expect(reasons['11:empty']).toMatch(/^empty mask/);
    expect(reasons['12:four']).toBe('too few phases: 4 in the DCE, the model needs 6');
    expect(reasons['13:nan']).toBe('DCE has NaN/Inf voxels (first in phase 3, voxel (5, 0, 0))');
    expect(reasons['14:badlabel']).toMatch(/unknown label "2"/);
    expect(reasons['15:badsplit']).toMatch(/unknown split "validation"/);
    expect(reasons['16:p01']).toBe('duplicate patient_id (first on row 2)');
    expect(reasons['17:badtimes']).toBe('phase_times lists 3 times but the DCE has 6 phases');
    expect(reasons['18:grid']).toBe(
      "DCE phase 2 (grid_ph1.nii.gz) dims 24×20×7 differ from phase 1's 24×20×8",
    );
    expect(reasons['19:nomask']).toBe('missing mask file gone_mask.nii.gz');
    expect(report.labelled).toBe(4);
    expect(report.unlabelled).toBe(1);
    expect(report.bySplit).toEqual({
      train: { pos: 1, neg: 1, unlabelled: 1 },
      val: { pos: 0, neg: 0, unlabelled: 0 },
      test: { pos: 1, neg: 1, unlabelled: 0 },
    });
    expect(formatCohortReport(report)[0]).toMatch(
      /5 of 18 patients loaded, 13 skipped; 4 labelled, 1 unlabelled/,
    );
  });

  it('yields [T, 64, 64, K+1] inputs, normalised with training-split statistics', async () => {
    const cohort = await loadCohort(dir);
    expect(cohort.shape).toEqual([6, 64, 64, 4]);
    expect(cohort.normalisation.source).toBe('train');
    expect(cohort.normalisation.patients).toBe(3);
    // Reference tissue is 100 + 10·t with σ = 5: the robust statistics must find that.
    cohort.normalisation.phases.forEach((p, t) => {
      expect(p.median).toBeCloseTo(100 + 10 * t, 0);
      expect(Math.abs(p.scale - 5)).toBeLessThan(0.5);
    });
    const seen = [];
    for await (const patient of cohort.patients()) {
      expect(patient.input).toHaveLength(6 * 64 * 64 * 4);
      expect(patient.meta.centreSlice).toBe(4);
      seen.push(patient.patientId);
    }
    expect(seen).toEqual(['p01', 'p02', 'p03', 'p04', 'p05']);
    const labelledTest = [];
    for await (const p of cohort.patients({ split: 'test', labelledOnly: true }))
      labelledTest.push(p.patientId);
    expect(labelledTest).toEqual(['p04', 'p05']);
  });

  it('puts phases in acquisition order from phase_times', async () => {
    const cohort = await loadCohort(dir);
    let p5;
    for await (const p of cohort.patients({ split: 'test' })) if (p.patientId === 'p05') p5 = p;
    expect(p5!.meta.phaseTimes).toEqual([-10, 30, 60, 120, 240, 300]);
    expect(p5!.meta.phaseOrder).toEqual([5, 4, 3, 2, 1, 0]);
    // Tumour centre pixel: (300 + 50·t − median_t) / scale_t rises with t in acquisition order.
    const centre = (32 * 64 + 32) * 4;
    const tumour = Array.from({ length: 6 }, (_, t) => {
      const norm = cohort.normalisation.phases[t];
      return p5!.input[t * 64 * 64 * 4 + centre + 1] * norm.scale + norm.median;
    });
    tumour.forEach((v, t) => expect(v).toBeCloseTo(300 + 50 * t, 2));
    expect(p5!.input[centre + 3]).toBeCloseTo(1, 5); // mask channel
  });

  it('gives the same patients from memory, from a disk cache and by re-reading the files', async () => {
    const cached = await loadCohort(dir);
    const expected = [];
    for await (const p of cached.patients()) expected.push(Buffer.from(p.input.buffer));
    const cacheDir = join(dir, 'crop-cache');
    for (const options of [
      { cacheBytes: 0, prefetch: 2 },
      { cacheBytes: 600_000, cacheDir },
    ]) {
      const other = await loadCohort(dir, options);
      expect(other.normalisation).toEqual(cached.normalisation);
      let i = 0;
      // Byte comparison: jest's toEqual walks typed arrays element by element, far too slowly.
      for await (const p of other.patients())
        expect(Buffer.from(p.input.buffer).equals(expected[i++])).toBe(true);
      expect(i).toBe(5);
    }
    // One crop (393 kB) fits 600 kB of memory; the other four went to the folder.
    expect(readdirSync(cacheDir).sort()).toEqual([
      'crop-row3.f32',
      'crop-row4.f32',
      'crop-row5.f32',
      'crop-row6.f32',
    ]);
  });

  it('fails the whole load only for a missing manifest or column', async () => {
    await expect(loadCohort(join(dir, 'nope'))).rejects.toThrow(InputError);
    const other = mkdtempSync(join(tmpdir(), 'phcc-cohort-'));
    writeFileSync(join(other, 'manifest.csv'), 'patient_id,dce,label,split\n');
    await expect(loadCohort(other)).rejects.toThrow(/missing required column "mask"/);
    rmSync(other, { recursive: true, force: true });
  });
});
