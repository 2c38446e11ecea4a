/**
 * Our DICOM reader against dcm2niix, the converter the field uses: the same series, converted by
 * both, must give the same voxels at the same world positions, up to the order and direction of
 * the voxel axes (dcm2niix may run k the other way). Needs Debian's dcm2niix (`.ci/run` installs
 * it); without it the suite fails saying so, it never skips.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readNifti } from '../nifti/read';
import { NiftiImage } from '../nifti/types';
import { DicomDceVolume, readDicomDce } from './read-dce';
import { SyntheticSeries, writeEnhancedMr, writeMrSeries } from './write-dicom';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'phcc-dcm2niix-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function dcm2niix(input: string): Promise<NiftiImage[]> {
  const out = join(dir, 'dcm2niix');
  mkdirSync(out);
  try {
    execFileSync('dcm2niix', ['-z', 'n', '-b', 'n', '-f', '%s_%t', '-o', out, input], { stdio: 'pipe' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new Error('dcm2niix is not installed: apt-get install dcm2niix (.ci/run does)');
    throw err;
  }
  const files = readdirSync(out).filter((f) => f.endsWith('.nii'));
  return Promise.all(files.sort().map((f) => readNifti(join(out, f))));
}

const column = (a: number[][], c: number) => [0, 1, 2].map((r) => a[r][c]);
const dot = (u: number[], v: number[]) => u[0] * v[0] + u[1] * v[1] + u[2] * v[2];

/**
 * Compares dcm2niix's image with ours after putting its axes in our order: each of our voxel axes
 * is matched to the dcm2niix axis whose affine column is parallel to it, flipped when antiparallel.
 * The reoriented dcm2niix affine must equal ours (to float32 precision) and every voxel must too.
 */
function expectSameAsDcm2niix(ours: DicomDceVolume, theirs: NiftiImage): void {
  const [X, Y, Z, T] = ours.dims;
  expect(theirs.dims.slice(0, 3).sort()).toEqual([X, Y, Z].sort());
  expect(theirs.dims[3] ?? 1).toBe(T);
  const axis: number[] = [];
  const flip: boolean[] = [];
  for (let a = 0; a < 3; a++) {
    const mine = column(ours.affine, a);
    const cosines = [0, 1, 2].map((b) => {
      const their = column(theirs.affine, b);
      return dot(mine, their) / Math.sqrt(dot(mine, mine) * dot(their, their));
    });
    const b = cosines.findIndex((c) => Math.abs(c) > 0.9999);
    expect(b).toBeGreaterThanOrEqual(0);
    axis.push(b);
    flip.push(cosines[b] < 0);
  }
  // Their affine in our voxel order: column a = ±their column axis[a]; origin moved to our voxel 0.
  const reoriented = [0, 1, 2].map((r) => {
    const row = [0, 1, 2].map((a) => (flip[a] ? -1 : 1) * theirs.affine[r][axis[a]]);
    const origin =
      theirs.affine[r][3] +
      [0, 1, 2].reduce((s, a) => s + (flip[a] ? (ours.dims[a] - 1) * theirs.affine[r][axis[a]] : 0), 0);
    return [...row, origin];
  });
  for (let r = 0; r < 3; r++)
    for (let c = 0; c < 4; c++) expect(Math.abs(reoriented[r][c] - ours.affine[r][c])).toBeLessThan(1e-3);

  const theirDims = theirs.dims;
  const strides = [1, theirDims[0], theirDims[0] * theirDims[1]];
  const volume = theirDims[0] * theirDims[1] * theirDims[2];
  let differing = 0;
  const index = [0, 0, 0];
  for (let t = 0; t < T; t++)
    for (index[2] = 0; index[2] < Z; index[2]++)
      for (index[1] = 0; index[1] < Y; index[1]++)
        for (index[0] = 0; index[0] < X; index[0]++) {
          let at = t * volume;
          for (let a = 0; a < 3; a++)
            at += (flip[a] ? ours.dims[a] - 1 - index[a] : index[a]) * strides[axis[a]];
          const mine = ours.data[((t * Z + index[2]) * Y + index[1]) * X + index[0]];
          if (mine !== theirs.data[at]) differing++;
        }
  expect(differing).toBe(0);
}

const value = (i: number, j: number, k: number, t: number) =>
  ((i * 37 + j * 101 + k * 1009 + t * 7919) % 6000) - 1000;

function series(overrides: Partial<SyntheticSeries>): SyntheticSeries {
  return {
    patientId: 'N1',
    studyUid: '2.25.900',
    seriesUid: '2.25.900.1',
    seriesNumber: 7,
    frameOfReferenceUid: '2.25.900.9',
    rows: 12,
    columns: 10,
    pixelSpacing: [0.75, 0.8],
    orientation: [1, 0, 0, 0, 1, 0],
    firstPosition: [-40, -30, 20],
    sliceSpacing: 2.5,
    slices: 6,
    phases: 3,
    phaseTag: 'temporal-position',
    phaseTimes: [0, 30, 75],
    slope: 2,
    intercept: -5,
    value,
    // Names that sort in neither slice nor instance order.
    fileName: (index, count) => `x${(index * 7 + 3) % count}`,
    ...overrides,
  };
}

describe('DICOM → NIfTI agrees with dcm2niix (affine and voxels, up to axis order)', () => {
  it.each([
    ['axial, head first', {}],
    ['double-oblique', { orientation: [0.9659258, 0.258819, 0, -0.0669873, 0.25, -0.9659258] }],
    ['coronal-ish oblique, slices descending', { orientation: [0.9848078, 0.1736482, 0, 0, 0, -1] }],
    ['axial, feet first (normal pointing inferior)', { orientation: [-1, 0, 0, 0, 1, 0] }],
  ])('%s', async (_name, overrides: Partial<SyntheticSeries>) => {
    const src = join(dir, 'dicom');
    writeMrSeries(src, series(overrides));
    const ours = await readDicomDce(src);
    const theirs = await dcm2niix(src);
    expect(theirs).toHaveLength(1);
    expectSameAsDcm2niix(ours, theirs[0]);
  });

  it('one series per phase (three series, shuffled names, oblique): each phase as dcm2niix converts its series', async () => {
    const src = join(dir, 'dicom');
    const orientation = [0.9659258, 0.258819, 0, -0.0669873, 0.25, -0.9659258];
    for (const [t, seconds] of [0, 40, 95].entries())
      writeMrSeries(
        src,
        series({
          seriesUid: `2.25.900.${t + 1}`,
          seriesNumber: t + 1,
          orientation,
          phases: 1,
          startTime: 36_000 + seconds,
          value: (i, j, k) => value(i, j, k, t),
          fileName: (index, count) => `s${t}/x${(index * 5 + 1) % count}`,
        }),
      );
    const ours = await readDicomDce(src);
    expect(ours.dims[3]).toBe(3);
    expect(ours.phaseTimes).toEqual([0, 40, 95]);
    const theirs = await dcm2niix(src); // one file per series, in series-number order
    expect(theirs).toHaveLength(3);
    const [X, Y, Z] = ours.dims;
    theirs.forEach((image, t) =>
      expectSameAsDcm2niix(
        { ...ours, dims: [X, Y, Z, 1], data: ours.data.subarray(t * X * Y * Z, (t + 1) * X * Y * Z) },
        image,
      ),
    );
  });

  // One phase: dcm2niix (v1.0.20220720) applies one RescaleSlope to every frame of an enhanced
  // file (we follow PS3.3's per-frame values), and interleaves the phases of an Enhanced MR file
  // without vendor tags as if they were slices; multi-phase enhanced reading is tested against
  // hand-computed values in read-dce.spec.ts.
  it('Enhanced MR multi-frame, oblique, one phase', async () => {
    const src = join(dir, 'dicom');
    writeEnhancedMr(
      join(src, 'enhanced.dcm'),
      series({ orientation: [0.9659258, 0.258819, 0, -0.0669873, 0.25, -0.9659258], phases: 1 }),
    );
    const ours = await readDicomDce(src);
    const theirs = await dcm2niix(src);
    expect(theirs).toHaveLength(1);
    expectSameAsDcm2niix(ours, theirs[0]);
  });

  // The compressed fixtures (codecs/codecs.spec.ts) through dcm2niix's own decoders: the same
  // voxels as our codecs give, so both readers agree on compressed series too.
  it.each(['int16-jpeg-lossless-sv1', 'int16-jpeg-lossless-sv6', 'int16-jpeg-2000'])(
    'compressed fixture %s',
    async (name) => {
      const src = join(__dirname, '../../../../test/fixtures/dicom-compressed/encoded', name);
      const ours = await readDicomDce(src);
      const theirs = await dcm2niix(src);
      expect(theirs).toHaveLength(1);
      expectSameAsDcm2niix(ours, theirs[0]);
    },
  );
});
