import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { InputError } from '../../../common/src';
import { numpyDtypeString, parseNifti, readNifti, readNiftiSync } from './read';
import { orientationCodes } from './read-affine';
import { writeNiftiSync } from './write';

/**
 * Hand-built headers: every field is placed at the offsets of nifti1.h / nifti2.h by this test,
 * independently of the reader and of nifti-reader-js, so a wrong offset in either shows up.
 */
interface HeaderSpec {
  version?: 1 | 2;
  littleEndian?: boolean;
  dims: number[];
  /** pixdim[0..]: pixdim[0] is qfac. */
  pixdim: number[];
  datatypeCode: number;
  bitpix: number;
  sclSlope?: number;
  sclInter?: number;
  qformCode?: number;
  sformCode?: number;
  quatern?: [number, number, number];
  qoffset?: [number, number, number];
  srows?: number[][];
  xyztUnits?: number;
  values: number[];
}

function buildNifti(spec: HeaderSpec): Uint8Array {
  const v2 = spec.version === 2;
  const le = spec.littleEndian ?? true;
  const voxOffset = v2 ? 544 : 352;
  const bytes = new Uint8Array(voxOffset + (spec.values.length * spec.bitpix) / 8);
  const dv = new DataView(bytes.buffer);
  const ascii = (text: string, at: number) =>
    [...text].forEach((ch, i) => (bytes[at + i] = ch.charCodeAt(0)));
  const real = (at: number, value: number) =>
    v2 ? dv.setFloat64(at, value, le) : dv.setFloat32(at, value, le);
  const dim = [spec.dims.length, ...spec.dims, ...Array(7 - spec.dims.length).fill(1)];
  if (v2) {
    dv.setInt32(0, 540, le);
    ascii('n+2\0\r\n\x1a\n', 4);
    dv.setInt16(12, spec.datatypeCode, le);
    dv.setInt16(14, spec.bitpix, le);
    dim.forEach((d, i) => dv.setBigInt64(16 + 8 * i, BigInt(d), le));
    spec.pixdim.forEach((p, i) => dv.setFloat64(104 + 8 * i, p, le));
    dv.setBigInt64(168, BigInt(voxOffset), le);
    real(176, spec.sclSlope ?? 0);
    real(184, spec.sclInter ?? 0);
    dv.setInt32(344, spec.qformCode ?? 0, le);
    dv.setInt32(348, spec.sformCode ?? 0, le);
    (spec.quatern ?? [0, 0, 0]).forEach((q, i) => real(352 + 8 * i, q));
    (spec.qoffset ?? [0, 0, 0]).forEach((q, i) => real(376 + 8 * i, q));
    (spec.srows ?? []).forEach((row, r) => row.forEach((x, c) => real(400 + 32 * r + 8 * c, x)));
    dv.setInt32(500, spec.xyztUnits ?? 10, le);
  } else {
    dv.setInt32(0, 348, le);
    dim.forEach((d, i) => dv.setInt16(40 + 2 * i, d, le));
    dv.setInt16(70, spec.datatypeCode, le);
    dv.setInt16(72, spec.bitpix, le);
    spec.pixdim.forEach((p, i) => dv.setFloat32(76 + 4 * i, p, le));
    dv.setFloat32(108, voxOffset, le);
    real(112, spec.sclSlope ?? 0);
    real(116, spec.sclInter ?? 0);
    bytes[123] = spec.xyztUnits ?? 10;
    dv.setInt16(252, spec.qformCode ?? 0, le);
    dv.setInt16(254, spec.sformCode ?? 0, le);
    (spec.quatern ?? [0, 0, 0]).forEach((q, i) => real(256 + 4 * i, q));
    (spec.qoffset ?? [0, 0, 0]).forEach((q, i) => real(268 + 4 * i, q));
    (spec.srows ?? []).forEach((row, r) => row.forEach((x, c) => real(280 + 16 * r + 4 * c, x)));
    ascii('n+1\0', 344);
  }
  const write: Record<number, (at: number, x: number) => void> = {
    2: (at, x) => dv.setUint8(at, x),
    256: (at, x) => dv.setInt8(at, x),
    4: (at, x) => dv.setInt16(at, x, le),
    512: (at, x) => dv.setUint16(at, x, le),
    8: (at, x) => dv.setInt32(at, x, le),
    768: (at, x) => dv.setUint32(at, x, le),
    16: (at, x) => dv.setFloat32(at, x, le),
    64: (at, x) => dv.setFloat64(at, x, le),
  };
  const step = spec.bitpix / 8;
  spec.values.forEach((x, i) => write[spec.datatypeCode]?.(voxOffset + i * step, x));
  return bytes;
}

const identityRows = [
  [1, 0, 0, 0],
  [0, 1, 0, 0],
  [0, 0, 1, 0],
];

function expectAffine(actual: number[][], expected: number[][], digits = 5) {
  expect(actual).toHaveLength(4);
  actual.forEach((row, r) => row.forEach((x, c) => expect(x).toBeCloseTo(expected[r][c], digits)));
}

describe('parseNifti: geometry', () => {
  it('builds the affine from the qform quaternion when sform_code is 0 (qfac -1 flips k)', () => {
    const s = Math.SQRT1_2; // 90° about z: quaternion (cos 45°, 0, 0, sin 45°)
    const image = parseNifti(
      buildNifti({
        dims: [2, 2, 2],
        pixdim: [-1, 2, 3, 4],
        datatypeCode: 2,
        bitpix: 8,
        qformCode: 1,
        sformCode: 0,
        quatern: [0, 0, s],
        qoffset: [10, -20, 30],
        srows: [
          [9, 9, 9, 9],
          [9, 9, 9, 9],
          [9, 9, 9, 9],
        ], // must be ignored: sform_code is 0
        values: [0, 1, 2, 3, 4, 5, 6, 7],
      }),
    );
    expectAffine(image.affine, [
      [0, -3, 0, 10],
      [2, 0, 0, -20],
      [0, 0, -4, 30],
      [0, 0, 0, 1],
    ]);
    expect(image.qformCode).toBe(1);
    expect(image.sformCode).toBe(0);
    expect(orientationCodes(image.affine)).toBe('ALI');
  });

  it('reads the qform of a big-endian NIfTI-2 header (double-precision fields)', () => {
    // 180° about x (quaternion b = 1): y and z flip; qfac +1.
    const image = parseNifti(
      buildNifti({
        version: 2,
        littleEndian: false,
        dims: [2, 2, 2, 3],
        pixdim: [1, 0.5, 0.75, 2.5, 40],
        datatypeCode: 512,
        bitpix: 16,
        qformCode: 1,
        quatern: [1, 0, 0],
        qoffset: [-1.25, 2.5, 100.125],
        values: Array.from({ length: 24 }, (_, i) => i),
      }),
    );
    expect(image.niftiVersion).toBe(2);
    expect(image.dims).toEqual([2, 2, 2, 3]);
    expect(image.pixdim).toEqual([0.5, 0.75, 2.5, 40]);
    expectAffine(image.affine, [
      [0.5, 0, 0, -1.25],
      [0, -0.75, 0, 2.5],
      [0, 0, -2.5, 100.125],
      [0, 0, 0, 1],
    ]);
    expect(orientationCodes(image.affine)).toBe('RPI');
    expect(image.data[23]).toBe(23);
  });

  it('prefers the sform whenever sform_code > 0, even when qform_code is higher (nibabel order)', () => {
    const srows = [
      [-0.9, 0.1, 0, 90],
      [0, 1.1, 0.2, -126],
      [0, 0, 1.3, -72],
    ];
    const image = parseNifti(
      buildNifti({
        dims: [3, 1, 1],
        pixdim: [1, 0.9, 1.1, 1.3],
        datatypeCode: 16,
        bitpix: 32,
        qformCode: 2,
        sformCode: 1,
        quatern: [0, 0, 1],
        qoffset: [1, 2, 3],
        srows,
        values: [1.5, -2.5, 3.25],
      }),
    );
    expectAffine(image.affine, [...srows, [0, 0, 0, 1]]);
    expect(Array.from(image.data)).toEqual([1.5, -2.5, 3.25]);
  });

  it('falls back to diag(pixdim) when neither form is set', () => {
    const image = parseNifti(
      buildNifti({ dims: [1, 1, 1], pixdim: [0, 0.8, 0.8, 5], datatypeCode: 2, bitpix: 8, values: [7] }),
    );
    expectAffine(image.affine, [
      [0.8, 0, 0, 0],
      [0, 0.8, 0, 0],
      [0, 0, 5, 0],
      [0, 0, 0, 1],
    ]);
  });

  it('reads a 4-D series with its time spacing and units', () => {
    const values = Array.from({ length: 2 * 3 * 2 * 4 }, (_, i) => i);
    const image = parseNifti(
      buildNifti({
        dims: [2, 3, 2, 4],
        pixdim: [1, 1.5, 1.5, 3, 20],
        datatypeCode: 4,
        bitpix: 16,
        sformCode: 1,
        srows: identityRows,
        xyztUnits: 2 | 8,
        values,
      }),
    );
    expect(image.dims).toEqual([2, 3, 2, 4]);
    expect(image.pixdim).toEqual([1.5, 1.5, 3, 20]);
    expect(image.spatialUnit).toBe('mm');
    expect(image.timeUnit).toBe('sec');
    // x fastest: voxel (1, 2, 0, 3) is at 1 + 2·2 + 0·6 + 3·12.
    expect(image.data[1 + 2 * 2 + 3 * 12]).toBe(41);
  });
});

describe('parseNifti: voxel values', () => {
  const cases: Array<[string, number, number, number[]]> = [
    ['uint8', 2, 8, [0, 1, 128, 255]],
    ['int8', 256, 8, [-128, -1, 0, 127]],
    ['int16', 4, 16, [-32768, -2, 300, 32767]],
    ['uint16', 512, 16, [0, 1, 40000, 65535]],
    ['int32', 8, 32, [-2147483648, -7, 70000, 2147483647]],
    ['uint32', 768, 32, [0, 3, 3000000000, 4294967295]],
    ['float32', 16, 32, [-1.5, 0, 0.25, 1e30]],
    ['float64', 64, 64, [-1.5, 0, 0.125, 1e-30]],
  ];
  for (const littleEndian of [true, false]) {
    for (const version of [1, 2] as const) {
      it.each(cases)(
        `%s (code %i) ${littleEndian ? 'little' : 'big'}-endian NIfTI-${version}`,
        (name, code, bitpix, values) => {
          const image = parseNifti(
            buildNifti({
              version,
              littleEndian,
              dims: [4],
              pixdim: [1, 1],
              datatypeCode: code,
              bitpix,
              values,
            }),
          );
          expect(image.datatype).toBe(name);
          expect(image.niftiVersion).toBe(version);
          expect(image.littleEndian).toBe(littleEndian);
          expect(Array.from(image.data)).toEqual(values.map((x) => Math.fround(x)));
        },
      );
    }
  }

  it('applies scl_slope and scl_inter to scaled int16 (big-endian too)', () => {
    for (const littleEndian of [true, false]) {
      const image = parseNifti(
        buildNifti({
          littleEndian,
          dims: [3],
          pixdim: [1, 1],
          datatypeCode: 4,
          bitpix: 16,
          sclSlope: 0.5,
          sclInter: -10,
          values: [-4, 0, 1000],
        }),
      );
      expect(Array.from(image.data)).toEqual([-12, -10, 490]);
      expect([image.sclSlope, image.sclInter]).toEqual([0.5, -10]);
    }
  });

  it('treats scl_slope 0 as "no scaling" and ignores the intercept', () => {
    const image = parseNifti(
      buildNifti({
        dims: [2],
        pixdim: [1, 1],
        datatypeCode: 4,
        bitpix: 16,
        sclSlope: 0,
        sclInter: 99,
        values: [3, -3],
      }),
    );
    expect(Array.from(image.data)).toEqual([3, -3]);
  });

  it('names an unsupported datatype', () => {
    const bytes = buildNifti({ dims: [1], pixdim: [1, 1], datatypeCode: 1024, bitpix: 64, values: [0] });
    expect(() => parseNifti(bytes, 'x.nii')).toThrow(/x\.nii: unsupported datatype 1024 \(int64\)/);
    expect(() => parseNifti(bytes, 'x.nii')).toThrow(InputError);
  });

  it('rejects truncated voxel data and non-NIfTI bytes', () => {
    const bytes = buildNifti({
      dims: [10],
      pixdim: [1, 1],
      datatypeCode: 16,
      bitpix: 32,
      values: Array(10).fill(1),
    });
    expect(() => parseNifti(bytes.subarray(0, bytes.length - 4), 't.nii')).toThrow(/t\.nii: truncated/);
    expect(() => parseNifti(new Uint8Array(400), 'z.nii')).toThrow(/z\.nii: not a NIfTI/);
  });
});

describe('readNifti: files', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'phcc-read-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads .nii.gz by content, sync and async alike', async () => {
    const bytes = buildNifti({
      version: 2,
      littleEndian: false,
      dims: [2, 2],
      pixdim: [1, 2, 2],
      datatypeCode: 4,
      bitpix: 16,
      values: [1, 2, 3, -4],
    });
    const path = join(dir, 'be2.nii.gz');
    writeFileSync(path, gzipSync(bytes));
    expect(Array.from(readNiftiSync(path).data)).toEqual([1, 2, 3, -4]);
    expect(Array.from((await readNifti(path)).data)).toEqual([1, 2, 3, -4]);
  });

  it('reports a missing file as an input error naming it', async () => {
    await expect(readNifti(join(dir, 'nope.nii'))).rejects.toThrow(/nope\.nii: cannot read file \(ENOENT\)/);
  });

  it('reads back what write.ts writes (float32 gzipped and scaled int16)', () => {
    const affine = [
      [0, -0.75, 0, 12.5],
      [0.75, 0, 0, -40],
      [0, 0, 2.5, 7],
      [0, 0, 0, 1],
    ];
    const f32 = Float32Array.from({ length: 3 * 4 * 2 * 2 }, (_, i) => Math.sin(i) * 100);
    const p1 = join(dir, 'w.nii.gz');
    writeNiftiSync(p1, {
      dims: [3, 4, 2, 2],
      pixdim: [0.75, 0.75, 2.5, 30],
      affine,
      datatype: 'float32',
      data: f32,
    });
    const back = readNiftiSync(p1);
    expect(back.dims).toEqual([3, 4, 2, 2]);
    expect(back.pixdim.map((x) => Math.fround(x))).toEqual([0.75, 0.75, 2.5, 30]);
    expectAffine(back.affine, affine);
    expect(back.data).toEqual(f32);

    const i16 = Int16Array.from([-100, 0, 100, 32767]);
    const p2 = join(dir, 'w16.nii');
    writeNiftiSync(p2, { dims: [4], datatype: 'int16', data: i16, sclSlope: 0.25, sclInter: 5 });
    expect(Array.from(readNiftiSync(p2).data)).toEqual([-20, 5, 30, 32767 * 0.25 + 5]);
  });
});

describe('readNifti: nibabel reference files', () => {
  const dataDir = join(__dirname, 'testdata');
  const expected = JSON.parse(readFileSync(join(dataDir, 'expected.json'), 'utf8')) as Record<
    string,
    {
      dims: number[];
      pixdim: number[];
      datatype: string;
      sform_code: number;
      qform_code: number;
      affine: number[][];
      min: number;
      max: number;
      mean: number;
    }
  >;
  it.each(Object.keys(expected))('%s matches nibabel to float32 precision', (file) => {
    const want = expected[file];
    const image = readNiftiSync(join(dataDir, file));
    expect(image.dims).toEqual(want.dims);
    image.pixdim.forEach((p, i) => expect(p).toBeCloseTo(want.pixdim[i], 5));
    expect(numpyDtypeString(image)).toBe(want.datatype);
    expect(image.sformCode).toBe(want.sform_code);
    expect(image.qformCode).toBe(want.qform_code);
    expectAffine(image.affine, want.affine, 4);
    let min = Infinity;
    let max = -Infinity;
    let sum = 0;
    for (const x of image.data) {
      min = Math.min(min, x);
      max = Math.max(max, x);
      sum += x;
    }
    const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(1, Math.abs(b));
    expect(rel(min, want.min)).toBeLessThan(1e-6);
    expect(rel(max, want.max)).toBeLessThan(1e-6);
    expect(rel(sum / image.data.length, want.mean)).toBeLessThan(1e-6);
  });
});

describe('orientationCodes', () => {
  it('names RAS, LPS and permuted axes', () => {
    const diag = (x: number, y: number, z: number) => [
      [x, 0, 0, 0],
      [0, y, 0, 0],
      [0, 0, z, 0],
      [0, 0, 0, 1],
    ];
    expect(orientationCodes(diag(1, 1, 1))).toBe('RAS');
    expect(orientationCodes(diag(-1, -1, 1))).toBe('LPS');
    expect(
      orientationCodes([
        [0, 0, 2, 0],
        [-1, 0, 0, 0],
        [0, 1.2, 0, 0],
        [0, 0, 0, 1],
      ]),
    ).toBe('PSR');
  });
});
