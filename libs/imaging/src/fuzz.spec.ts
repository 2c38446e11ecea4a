import { InputError, Rng } from '../../common/src';
import { parseManifest } from './cohort/manifest';
import { parseNifti } from './nifti/read';
import { niftiBudget } from './nifti/read-budget';
import { encodeNifti } from './nifti/write';

/**
 * Seeded fuzz targets (issue #18): ≥ 10,000 mutated NIfTI files and ≥ 10,000 random manifests.
 * Properties: the reader returns an image or throws its one-line InputError — never another
 * error, never more voxels than the bytes hold — and the header budget never under-counts what
 * a successful parse allocated; the manifest parser returns rows/skips or throws an InputError,
 * every skip reason is one line, and every row's paths stay inside the cohort folder.
 */
const CASES = 10_000;

function expectOneLineInputError(err: unknown): void {
  if (!(err instanceof InputError)) throw err;
  expect(err.message).not.toContain('\n');
}

describe('fuzz: NIfTI reader', () => {
  it(`survives ${CASES} mutated files`, () => {
    const rng = new Rng(18_2026);
    const seeds = [
      encodeNifti({
        dims: [6, 5, 4],
        pixdim: [1, 1, 2],
        datatype: 'int16',
        data: new Int16Array(120).map((_, i) => i),
      }),
      encodeNifti({
        dims: [4, 4, 3, 2],
        pixdim: [1, 1, 1, 1],
        datatype: 'float32',
        data: new Float32Array(96).fill(1.5),
      }),
      encodeNifti({ dims: [7, 3], datatype: 'uint8', data: new Uint8Array(21) }),
    ];
    // Header fields whose values decide sizes and offsets: dims, datatype, bitpix, vox_offset, scaling.
    const hotOffsets = [0, 40, 42, 44, 46, 48, 70, 72, 108, 112, 116, 252, 254, 344];
    let parsed = 0;
    for (let c = 0; c < CASES; c++) {
      const bytes = Buffer.from(seeds[rng.int(seeds.length)]);
      const mutations = 1 + rng.int(4);
      for (let m = 0; m < mutations; m++) {
        const at = rng.bernoulli(0.6)
          ? hotOffsets[rng.int(hotOffsets.length)] + rng.int(4)
          : rng.int(bytes.length);
        bytes[at % bytes.length] = rng.bernoulli(0.3) ? [0, 0xff, 0x7f, 0x80][rng.int(4)] : rng.int(256);
      }
      const file = rng.bernoulli(0.1) ? bytes.subarray(0, rng.int(bytes.length)) : bytes;
      try {
        const image = parseNifti(file, `case-${c}`);
        parsed++;
        expect(image.data.length).toBe(image.dims.reduce((a, b) => a * b, 1));
        const budget = niftiBudget(file);
        expect(budget).toBeDefined();
        expect(budget!.voxels).toBe(image.data.length);
        expect(budget!.fileBytes).toBeLessThanOrEqual(file.length);
      } catch (err) {
        expectOneLineInputError(err);
      }
    }
    // The mutations must leave some files readable, or the property above was never exercised.
    expect(parsed).toBeGreaterThan(CASES / 20);
  });
});

describe('fuzz: manifest parser', () => {
  it(`survives ${CASES} random manifests`, () => {
    const rng = new Rng(18_2027);
    const cells = [
      'p1',
      'p2',
      '',
      ' ',
      'a.nii',
      '../x.nii',
      '/etc/passwd',
      'a.nii;b.nii',
      'a.nii;a.nii',
      ';',
      '1',
      '0',
      '1.0',
      'x',
      'train',
      'TEST',
      'val',
      '"q,uo""te"',
      '"',
      '\r',
      '\u0000',
      '𝔘',
      '..',
      './a.nii',
      'a/../../b.nii',
      '0;30;60',
    ];
    const headers = [
      'patient_id,dce,mask,label,split',
      'patient_id,dce,mask,label,split,phase_times',
      'dce,patient_id,split,mask,label',
      'patient_id,dce',
      'a,a',
      '',
    ];
    for (let c = 0; c < CASES; c++) {
      const lines = [headers[rng.int(headers.length)]];
      const rows = rng.int(6);
      for (let r = 0; r < rows; r++) {
        const n = 1 + rng.int(7);
        lines.push(Array.from({ length: n }, () => cells[rng.int(cells.length)]).join(','));
      }
      try {
        const parsed = parseManifest(lines.join(rng.bernoulli(0.2) ? '\r\n' : '\n'), '/cohort/manifest.csv');
        for (const s of parsed.skipped) expect(s.reason).not.toContain('\n');
        for (const row of parsed.rows) {
          for (const path of [...row.dcePaths, row.maskPath]) expect(path.startsWith('/cohort/')).toBe(true);
          expect(new Set(row.dcePaths).size).toBe(row.dcePaths.length);
        }
      } catch (err) {
        expectOneLineInputError(err);
      }
    }
  });
});
