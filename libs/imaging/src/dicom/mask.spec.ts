import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fillEvenOdd, readDicomMask } from './mask';
import { readDicomDce } from './read-dce';
import { slicePosition, SyntheticSeries, writeMrSeries, writeRtstruct, writeSeg } from './write-dicom';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'phcc-dicom-mask-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const theta = (25 * Math.PI) / 180;
const series: SyntheticSeries = {
  patientId: 'P2',
  studyUid: '2.25.300',
  seriesUid: '2.25.300.1',
  seriesNumber: 3,
  frameOfReferenceUid: '2.25.300.9',
  rows: 8,
  columns: 10,
  pixelSpacing: [1.5, 1.25],
  orientation: [Math.cos(theta), Math.sin(theta), 0, 0, 0, -1],
  firstPosition: [3, -7, 40],
  sliceSpacing: 4,
  slices: 4,
  value: (i, j, k) => i + j + k,
};

describe('fillEvenOdd', () => {
  it('covers the voxels whose centres are inside, half-open on the edges, inner contours as holes', () => {
    const out = new Uint8Array(8 * 8);
    // Square through centres 1..6 with a hole through centres 3..4.
    const count = fillEvenOdd(
      [
        [1, 1, 6, 1, 6, 6, 1, 6],
        [3, 3, 4, 3, 4, 4, 3, 4],
      ],
      8,
      8,
      out,
    );
    const rows = Array.from({ length: 8 }, (_, j) => Array.from(out.subarray(j * 8, j * 8 + 8)).join(''));
    expect(rows).toEqual([
      '00000000',
      '01111100',
      '01111100',
      '01101100',
      '01111100',
      '01111100',
      '00000000',
      '00000000',
    ]);
    expect(count).toBe(25 - 1);
  });
});

describe('readDicomMask', () => {
  it('puts a DICOM-SEG drawn on an oblique DCE onto the DCE grid (flip Y included)', async () => {
    writeMrSeries(join(dir, 'dce'), series);
    const inside = (i: number, j: number, k: number) => i >= 2 && i <= 5 && j >= 1 && j <= 2 && k === 2;
    writeSeg(join(dir, 'seg', 'seg.dcm'), series, [
      { number: 1, label: 'Liver', inside: () => true },
      { number: 2, label: 'Tumour', inside },
    ]);
    const dce = await readDicomDce(join(dir, 'dce'));
    const grid = {
      dims: dce.dims.slice(0, 3) as [number, number, number],
      affine: dce.affine,
      frameOfReferenceUid: dce.frameOfReferenceUid,
    };
    const mask = await readDicomMask(dir, grid);
    expect(mask.roi).toBe('Tumour');
    expect(mask.voxels).toBe(8);
    const [X, Y] = grid.dims;
    for (let k = 0; k < 4; k++)
      for (let jv = 0; jv < Y; jv++)
        for (let i = 0; i < X; i++)
          expect(mask.data[(k * Y + jv) * X + i]).toBe(inside(i, Y - 1 - jv, k) ? 1 : 0);
    expect((await readDicomMask(dir, grid, { roi: 'liver' })).voxels).toBe(X * Y * 4);
  });

  it('rasterises RTSTRUCT contours onto the DCE slices they lie on', async () => {
    writeMrSeries(join(dir, 'dce'), series);
    const dce = await readDicomDce(join(dir, 'dce'));
    const grid = {
      dims: dce.dims.slice(0, 3) as [number, number, number],
      affine: dce.affine,
      frameOfReferenceUid: dce.frameOfReferenceUid,
    };
    // A rectangle through DICOM pixel centres (columns 2..6, rows 1..4) on slice 1, in LPS mm.
    const o = series.orientation;
    const at = (i: number, j: number) => {
      const p = slicePosition(series, 1);
      return [0, 1, 2].map((a) => p[a] + i * 1.25 * o[a] + j * 1.5 * o[3 + a]);
    };
    const contour = [at(2, 1), at(6, 1), at(6, 4), at(2, 4)].flat();
    writeRtstruct(join(dir, 'rt.dcm'), series, [
      { number: 4, name: 'GTV-HCC', contours: [contour] },
      { number: 5, name: 'Body', contours: [] },
    ]);
    const mask = await readDicomMask(join(dir, 'rt.dcm'), grid);
    expect(mask.kind).toBe('rtstruct');
    expect(mask.roi).toBe('GTV-HCC');
    // Columns 2..5 (4 centres, half-open), and DICOM rows 1..4 are volume rows 6..3, of which
    // 3..5 (lower edge in, upper edge out): 4 × 3 voxels.
    expect(mask.voxels).toBe(12);
    const [X, Y] = grid.dims;
    expect(mask.data[(1 * Y + 3) * X + 2]).toBe(1);
    expect(mask.data[(1 * Y + 6) * X + 2]).toBe(0);
    expect(mask.data[(1 * Y + 3) * X + 6]).toBe(0);
  });

  it('refuses a mask of another Frame of Reference, and an ambiguous choice', async () => {
    writeRtstruct(join(dir, 'rt.dcm'), series, [{ number: 1, name: 'Tumour', contours: [] }], '2.25.999');
    const grid = {
      dims: [10, 8, 4] as [number, number, number],
      affine: [
        [1, 0, 0, 0],
        [0, 1, 0, 0],
        [0, 0, 1, 0],
        [0, 0, 0, 1],
      ],
      frameOfReferenceUid: '2.25.300.9',
    };
    await expect(readDicomMask(dir, grid)).rejects.toThrow(
      /refers to Frame of Reference 2\.25\.999, not the DCE's 2\.25\.300\.9/,
    );
    writeRtstruct(join(dir, 'rt.dcm'), series, [
      { number: 1, name: 'Liver', contours: [] },
      { number: 2, name: 'Spleen', contours: [] },
    ]);
    await expect(readDicomMask(dir, grid)).rejects.toThrow(
      /2 segments\/ROIs \(1 "Liver", 2 "Spleen"\); say which is the tumour/,
    );
  });
});
