import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { orientationCodes } from '../nifti/read-affine';
import { Affine } from '../nifti/types';
import { readDicomDce } from './read-dce';
import { SyntheticSeries, writeEnhancedMr, writeMrSeries } from './write-dicom';
import { Vec3 } from './types';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'phcc-dicom-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A value that identifies its voxel, so any misplacement shows. */
const code = (i: number, j: number, k: number, t: number) => i + 10 * j + 100 * k + 1000 * t;

/** Deterministic shuffle of file names into nested folders (never the instance order). */
const shuffled = (index: number, count: number) => {
  const p = (index * 7 + 3) % count;
  return `d${p % 3}/x${(p * 13) % 5}/f${String(p).padStart(3, '0')}-${(p * 2654435761) % 9973}`;
};

function base(overrides: Partial<SyntheticSeries> = {}): SyntheticSeries {
  return {
    patientId: 'P1',
    studyUid: '2.25.100',
    seriesUid: '2.25.100.1',
    seriesNumber: 5,
    frameOfReferenceUid: '2.25.100.9',
    rows: 3,
    columns: 4,
    pixelSpacing: [0.8, 0.7],
    orientation: [1, 0, 0, 0, 1, 0],
    firstPosition: [-10, -20, 30],
    sliceSpacing: 2.5,
    slices: 5,
    value: code,
    ...overrides,
  };
}

/** World LPS of DICOM pixel (column i, row j) of slice k, straight from PS3.3 C.7.6.2.1.1. */
function dicomWorld(spec: SyntheticSeries, i: number, j: number, k: number): Vec3 {
  const o = spec.orientation;
  const n: Vec3 = [o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3]];
  const [dr, dc] = spec.pixelSpacing;
  return [0, 1, 2].map(
    (a) => spec.firstPosition[a] + k * spec.sliceSpacing * n[a] + i * dc * o[a] + j * dr * o[3 + a],
  ) as Vec3;
}

function applyAffine(affine: Affine, v: number[]): number[] {
  return [0, 1, 2].map((r) => affine[r][0] * v[0] + affine[r][1] * v[1] + affine[r][2] * v[2] + affine[r][3]);
}

function expectAffine(actual: Affine, expected: number[][]): void {
  for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) expect(actual[r][c]).toBeCloseTo(expected[r][c], 5);
}

/** Every voxel holds the value written for its DICOM pixel, and the affine puts it where DICOM says. */
function expectVoxelsAndWorld(
  volume: Awaited<ReturnType<typeof readDicomDce>>,
  spec: SyntheticSeries,
  scale: (t: number) => number = () => 1,
): void {
  const [X, Y, Z, T] = volume.dims;
  for (let t = 0; t < T; t++)
    for (let k = 0; k < Z; k++)
      for (let jv = 0; jv < Y; jv++)
        for (let i = 0; i < X; i++) {
          const j = Y - 1 - jv; // stored bottom-up (dcm2niix's flip)
          expect(volume.data[((t * Z + k) * Y + jv) * X + i]).toBeCloseTo(code(i, j, k, t) * scale(t), 4);
        }
  for (const [i, jv, k] of [
    [0, 0, 0],
    [X - 1, 0, 1],
    [1, Y - 1, Z - 1],
  ]) {
    const lps = dicomWorld(spec, i, Y - 1 - jv, k);
    const ras = applyAffine(volume.affine, [i, jv, k]);
    expect(ras[0]).toBeCloseTo(-lps[0], 5);
    expect(ras[1]).toBeCloseTo(-lps[1], 5);
    expect(ras[2]).toBeCloseTo(lps[2], 5);
  }
}

describe('readDicomDce', () => {
  it('reads a shuffled, nested axial series with TemporalPositionIdentifier into the dcm2niix affine', async () => {
    const spec = base({
      phases: 3,
      phaseTag: 'temporal-position',
      phaseTimes: [0, 35, 70],
      slope: 2,
      intercept: -5,
      fileName: shuffled,
    });
    writeMrSeries(dir, spec);
    const volume = await readDicomDce(dir);
    expect(volume.dims).toEqual([4, 3, 5, 3]);
    expect(volume.spacing).toEqual([0.7, 0.8, 2.5]);
    // Hand-computed: i → −x (0.7), j flipped → +y (0.8) from the last DICOM row, k → +z (2.5).
    expectAffine(volume.affine, [
      [-0.7, 0, 0, 10],
      [0, 0.8, 0, 18.4],
      [0, 0, 2.5, 30],
      [0, 0, 0, 1],
    ]);
    expect(orientationCodes(volume.affine)).toBe('LAS');
    expect(volume.phaseRule).toBe('temporal-position');
    expect(volume.phaseTimes).toEqual([0, 35, 70]);
    expect(volume.phaseTimeReference).toBe('first phase');
    const [X, Y, Z] = volume.dims;
    // Voxel (1, 0, 2) of phase 2 is DICOM row 2: stored 1 + 20 + 200 + 2000, scaled ×2 − 5.
    expect(volume.data[((2 * Z + 2) * Y + 0) * X + 1]).toBe((1 + 20 + 200 + 2000) * 2 - 5);
  });

  it('places every voxel of an oblique series where the DICOM standard says (hand-computed affine)', async () => {
    const theta = (20 * Math.PI) / 180;
    const [c, s] = [Math.cos(theta), Math.sin(theta)];
    const spec = base({
      orientation: [1, 0, 0, 0, c, -s],
      firstPosition: [5, -3, 12],
      phases: 2,
      phaseTag: 'temporal-position',
      fileName: shuffled,
    });
    writeMrSeries(dir, spec);
    const volume = await readDicomDce(dir);
    // LPS columns: i = 0.7·(1,0,0); j = −0.8·(0,c,−s) from row 2; k = 2.5·(0,s,c); then x, y negated.
    expectAffine(volume.affine, [
      [-0.7, 0, 0, -5],
      [0, 0.8 * c, -2.5 * s, -(-3 + 1.6 * c)],
      [0, 0.8 * s, 2.5 * c, 12 - 1.6 * s],
      [0, 0, 0, 1],
    ]);
    expectVoxelsAndWorld(volume, spec);
  });

  it('sorts slices along the normal when positions descend in instance order', async () => {
    // Sagittal-ish oblique, slices written from the far end: instance order is the reverse of space.
    const spec = base({
      orientation: [0, 1, 0, 0, 0, -1],
      sliceSpacing: -3,
      firstPosition: [40, 0, 0],
      phases: 2,
      phaseTag: 'temporal-position',
    });
    writeMrSeries(dir, spec);
    const volume = await readDicomDce(dir);
    // normal = row × column = (−1, 0, 0) LPS (towards the right): +3 mm per slice in RAS x.
    expect(volume.affine[0][2]).toBeCloseTo(3);
    expect(volume.spacing[2]).toBeCloseTo(3);
    // Written slices run x = 40, 43, … 52 (LPS): the last written is the first along the normal.
    expect(volume.affine[0][3]).toBeCloseTo(-52);
    const [X, Y] = volume.dims;
    expect(volume.data[0 * X * Y + (Y - 1) * X]).toBe(code(0, 0, 4, 0));
  });

  it('assembles a multi-series study (one series per phase) in time order and leaves the localiser out', async () => {
    const times = [0, 120, 60]; // series 5, 6, 7 acquired at these seconds: order 5, 7, 6
    [5, 6, 7].forEach((n, p) =>
      writeMrSeries(
        dir,
        base({
          seriesUid: `2.25.100.${n}`,
          seriesNumber: n,
          startTime: 36_000 + times[p],
          contrastBolusStartTime: 36_000 + 20,
          value: (i, j, k) => code(i, j, k, p),
          fileName: (index) => `series${n}/${(index * 3) % 5}.dcm`,
        }),
      ),
    );
    writeMrSeries(
      dir,
      base({
        seriesUid: '2.25.100.1',
        seriesNumber: 1,
        seriesDescription: 'localiser',
        orientation: [0, 1, 0, 0, 0, -1],
        slices: 1,
        value: () => 7,
        fileName: () => 'loc/1',
      }),
    );
    const volume = await readDicomDce(dir);
    expect(volume.phaseRule).toBe('series');
    expect(volume.phases.map((p) => p.seriesNumber)).toEqual([5, 7, 6]);
    expect(volume.phaseTimeReference).toBe('ContrastBolusStartTime');
    expect(volume.phaseTimes).toEqual([-20, 40, 100]);
    expect(volume.notUsed.map((s) => s.description)).toEqual(['localiser']);
    const [X, Y, Z] = volume.dims;
    // Phase 1 of the volume is series 7, written with t = 2.
    expect(volume.data[(1 * Z + 3) * Y * X + (Y - 1) * X + 2]).toBe(code(2, 0, 3, 2));
  });

  it('tells phases apart by acquisition time alone when a series repeats its slice positions', async () => {
    const spec = base({
      phases: 4,
      phaseTag: 'acquisition-time',
      phaseTimes: [0, 30, 65, 200],
      fileName: shuffled,
    });
    writeMrSeries(dir, spec);
    const volume = await readDicomDce(dir);
    expect(volume.phaseRule).toBe('time-rank');
    expect(volume.dims[3]).toBe(4);
    expect(volume.phaseTimes).toEqual([0, 30, 65, 200]);
    expectVoxelsAndWorld(volume, spec);
  });

  it('reads an enhanced multi-frame MR file with frames out of order and per-frame scaling', async () => {
    const spec = base({ phases: 2, phaseTimes: [0, 42.5], orientation: [0.8, 0.6, 0, 0, 0, -1] });
    const order: Array<[number, number]> = [];
    for (let k = 4; k >= 0; k--) for (let t = 1; t >= 0; t--) order.push([t, k]);
    writeEnhancedMr(join(dir, 'enhanced.dcm'), spec, order);
    const volume = await readDicomDce(dir);
    expect(volume.dims).toEqual([4, 3, 5, 2]);
    expect(volume.phaseRule).toBe('temporal-position');
    expect(volume.phaseTimeSource).toBe('TemporalPositionTimeOffset');
    expect(volume.phaseTimes).toEqual([0, 42.5]);
    expectVoxelsAndWorld(volume, spec, (t) => t + 1);
  });

  describe('refuses, naming the series, and loads nothing', () => {
    it('a missing slice', async () => {
      writeMrSeries(dir, base({ slices: 6, skipSlices: [3] }));
      await expect(readDicomDce(dir)).rejects.toThrow(
        /series 5 "DCE 5" \(2\.25\.100\.1\): missing slice: a gap of 5 mm/,
      );
    });
    it('a missing slice in one phase of a dynamic series', async () => {
      writeMrSeries(dir, base({ phases: 2, phaseTag: 'acquisition-time', skipSlices: [] }));
      writeMrSeries(dir, base({ phases: 1, slices: 1, startTime: 36_000 + 500, fileName: () => 'extra' }));
      await expect(readDicomDce(dir)).rejects.toThrow(/series 5 .*slice positions hold 2 to 3 images each/);
    });
    it('non-uniform slice spacing', async () => {
      writeMrSeries(dir, base({ sliceOffsets: [0, 2.5, 5, 7.9, 10.4] }));
      await expect(readDicomDce(dir)).rejects.toThrow(
        /series 5 .*non-uniform slice spacing: gaps from 2\.5 to 2\.9 mm/,
      );
    });
    it('mixed matrix sizes', async () => {
      writeMrSeries(dir, base({ slices: 3 }));
      writeMrSeries(
        dir,
        base({ slices: 2, rows: 4, firstPosition: [-10, -20, 37.5], fileName: (i) => `b${i}` }),
      );
      await expect(readDicomDce(dir)).rejects.toThrow(/series 5 .*mixed matrix sizes: 4×3 and 4×4/);
    });
    it('mixed orientations in one series', async () => {
      writeMrSeries(dir, base({ slices: 3 }));
      writeMrSeries(dir, base({ slices: 1, orientation: [1, 0, 0, 0, 0, -1], fileName: () => 'cor' }));
      await expect(readDicomDce(dir)).rejects.toThrow(/series 5 .*mixed orientations/);
    });
    it('a compressed transfer syntax without a codec, by name (codecs/ decode the others)', async () => {
      writeMrSeries(dir, base({ transferSyntaxUid: '1.2.840.10008.1.2.4.201' }));
      await expect(readDicomDce(dir)).rejects.toThrow(
        /pixel data in High-Throughput JPEG 2000 \(Lossless Only\) \(1\.2\.840\.10008\.1\.2\.4\.201\) is not decoded/,
      );
    });
    it('a volume over the memory budget, before allocating it', async () => {
      writeMrSeries(dir, base());
      await expect(readDicomDce(dir, { maxBytes: 100 })).rejects.toThrow(
        /4×3×5×1 needs 0 MiB as float32, over the 0 MiB limit/,
      );
    });
    it('a folder with no DICOM images, and several studies', async () => {
      await expect(readDicomDce(dir)).rejects.toThrow(/no DICOM images found/);
      writeMrSeries(join(dir, 'a'), base());
      writeMrSeries(join(dir, 'b'), base({ studyUid: '2.25.200', seriesUid: '2.25.200.1' }));
      await expect(readDicomDce(dir)).rejects.toThrow(/holds 2 studies/);
      expect((await readDicomDce(dir, { studyUid: '2.25.200' })).studyUid).toBe('2.25.200');
    });
  });
});
