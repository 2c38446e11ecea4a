import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { InputError } from '../../../common/src';
import * as niftiReader from 'nifti-reader-js';
import { encodeNifti, writeNifti, writeNiftiSync } from './write';

// Offsets below are those of the NIfTI-1 header (nifti1.h), checked by hand against the standard.
const f32 = (b: Buffer, o: number) => b.readFloatLE(o);
const i16 = (b: Buffer, o: number) => b.readInt16LE(o);

describe('encodeNifti', () => {
  // 90° rotation about z, voxel 2 × 3 × 4 mm: the qform is the quaternion (cos 45°, 0, 0, sin 45°).
  const rotated = [
    [0, -3, 0, 10],
    [2, 0, 0, 20],
    [0, 0, 4, 30],
    [0, 0, 0, 1],
  ];
  const data = Int16Array.from({ length: 24 }, (_, i) => i - 5);
  const header = encodeNifti({
    dims: [4, 3, 2],
    affine: rotated,
    datatype: 'int16',
    data,
    sclSlope: 0.5,
    sclInter: 100,
    description: 'unit test',
  });

  it('writes the fixed header fields at their NIfTI-1 offsets', () => {
    expect(header.length).toBe(352 + 24 * 2);
    expect(header.readInt32LE(0)).toBe(348); // sizeof_hdr
    expect(header.toString('latin1', 344, 348)).toBe('n+1\0'); // magic
    expect(header.readInt32LE(348)).toBe(0); // no extensions
    expect(f32(header, 108)).toBe(352); // vox_offset
    expect(i16(header, 70)).toBe(4); // datatype DT_INT16
    expect(i16(header, 72)).toBe(16); // bitpix
    expect(header.readUInt8(123)).toBe(2 | 8); // xyzt_units: mm + s
    expect(i16(header, 68)).toBe(0); // intent_code none
    expect(header.toString('latin1', 148, 157)).toBe('unit test');
    expect(header.readUInt8(157)).toBe(0);
  });

  it('writes dim[0] = rank and unused dims as 1', () => {
    const dims = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => i16(header, 40 + 2 * i));
    expect(dims).toEqual([3, 4, 3, 2, 1, 1, 1, 1]);
  });

  it('writes pixdim from the affine column norms and qfac in pixdim[0]', () => {
    expect(f32(header, 76)).toBe(1);
    expect([1, 2, 3].map((i) => f32(header, 76 + 4 * i))).toEqual([2, 3, 4]);
  });

  it('writes the affine as sform (code 2) and the matching quaternion qform (code 1)', () => {
    expect(i16(header, 252)).toBe(1);
    expect(i16(header, 254)).toBe(2);
    expect(f32(header, 256)).toBeCloseTo(0, 6); // quatern_b
    expect(f32(header, 260)).toBeCloseTo(0, 6); // quatern_c
    expect(f32(header, 264)).toBeCloseTo(Math.SQRT1_2, 6); // quatern_d
    expect([268, 272, 276].map((o) => f32(header, o))).toEqual([10, 20, 30]); // qoffset
    const srow = [0, 1, 2].map((r) => [0, 1, 2, 3].map((c) => f32(header, 280 + 16 * r + 4 * c)));
    expect(srow).toEqual(rotated.slice(0, 3));
  });

  it('writes scaling and the scaled display range', () => {
    expect(f32(header, 112)).toBe(0.5);
    expect(f32(header, 116)).toBe(100);
    expect(f32(header, 128)).toBe(-5 * 0.5 + 100); // cal_min
    expect(f32(header, 124)).toBe(18 * 0.5 + 100); // cal_max
  });

  it('writes voxels little-endian, x fastest, from offset 352', () => {
    expect(i16(header, 352)).toBe(-5);
    expect(i16(header, 352 + 2 * 23)).toBe(18);
  });

  it('stores a flipped axis as qfac = -1 (pixdim[0]) with the proper rotation', () => {
    const flipped = encodeNifti({
      dims: [2, 2, 2],
      affine: [
        [-2, 0, 0, 0],
        [0, 3, 0, 0],
        [0, 0, 4, 0],
        [0, 0, 0, 1],
      ],
      datatype: 'uint8',
      data: new Uint8Array(8),
    });
    expect(f32(flipped, 76)).toBe(-1);
    // diag(-1, 1, 1) with z flipped by qfac = diag(-1, 1, -1): 180° about y → (b, c, d) = (0, 1, 0).
    expect([256, 260, 264].map((o) => f32(flipped, o))).toEqual([0, 1, 0]);
    expect(i16(flipped, 70)).toBe(2);
    expect(i16(flipped, 72)).toBe(8);
  });

  it('writes an oblique qform that an independent reader (nifti-reader-js) turns back into the affine', () => {
    const [ca, sa, cb, sb] = [Math.cos(0.3), Math.sin(0.3), Math.cos(-0.2), Math.sin(-0.2)];
    // Rz(0.3) · Rx(-0.2) · diag(1.4, 1.6, 3.5), plus an offset.
    const rot = [
      [ca, -sa * cb, sa * sb],
      [sa, ca * cb, -ca * sb],
      [0, sb, cb],
    ];
    const scale = [1.4, 1.6, 3.5];
    const affine = [
      ...rot.map((row, r) => [...row.map((v, c) => v * scale[c]), [-90, 12, 40][r]]),
      [0, 0, 0, 1],
    ];
    const bytes = encodeNifti({ dims: [2, 2, 2], affine, datatype: 'uint8', data: new Uint8Array(8) });
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer;
    expect(niftiReader.isNIFTI1(buffer)).toBe(true);
    const h = niftiReader.readHeader(buffer) as niftiReader.NIFTI1;
    expect(h.qform_code).toBe(1);
    const fromQform = h.convertNiftiQFormToNiftiSForm(
      h.quatern_b,
      h.quatern_c,
      h.quatern_d,
      h.qoffset_x,
      h.qoffset_y,
      h.qoffset_z,
      h.pixDims[1],
      h.pixDims[2],
      h.pixDims[3],
      h.pixDims[0],
    );
    for (let r = 0; r < 4; r++)
      for (let c = 0; c < 4; c++) expect(fromQform[r][c]).toBeCloseTo(affine[r][c], 4);
  });

  it('writes qform_code 0 for a sheared affine, keeping the sform', () => {
    const sheared = encodeNifti({
      dims: [2, 2, 2],
      affine: [
        [1, 0.5, 0, 0],
        [0, 1, 0, 0],
        [0, 0, 1, 0],
        [0, 0, 0, 1],
      ],
      datatype: 'float32',
      data: new Float32Array(8),
    });
    expect(i16(sheared, 252)).toBe(0);
    expect(i16(sheared, 254)).toBe(2);
    expect(f32(sheared, 284)).toBe(0.5);
  });

  it('writes the 4th pixdim as given (a time step) and float32 voxels', () => {
    const series = encodeNifti({
      dims: [1, 1, 1, 3],
      pixdim: [1.5, 1.5, 4, 2.5],
      datatype: 'float32',
      data: Float32Array.from([1.25, -2, 3]),
      xyztUnits: { space: 'mm', time: 'ms' },
    });
    expect(i16(series, 40)).toBe(4);
    expect(f32(series, 92)).toBe(2.5);
    expect(series.readUInt8(123)).toBe(2 | 16);
    expect(i16(series, 70)).toBe(16);
    expect(f32(series, 352)).toBe(1.25);
    expect(f32(series, 360)).toBe(3);
    // Default affine = diag(pixdim).
    expect(f32(series, 280)).toBe(1.5);
    expect(f32(series, 320)).toBe(4);
  });

  it.each([
    ['data length', { dims: [2, 2], datatype: 'int16', data: new Int16Array(3) }, /need 4/],
    ['no dims', { dims: [], datatype: 'int16', data: new Int16Array(0) }, /1 to 7/],
    ['8 dims', { dims: [1, 1, 1, 1, 1, 1, 1, 1], datatype: 'int16', data: new Int16Array(1) }, /1 to 7/],
    ['wrong array type', { dims: [2], datatype: 'float32', data: new Int16Array(2) }, /Float32Array/],
    [
      'non-finite affine',
      {
        dims: [1],
        datatype: 'uint8',
        data: new Uint8Array(1),
        affine: [
          [NaN, 0, 0, 0],
          [0, 1, 0, 0],
          [0, 0, 1, 0],
          [0, 0, 0, 1],
        ],
      },
      /finite/,
    ],
    [
      'pixdim disagreeing with the affine',
      {
        dims: [1],
        datatype: 'uint8',
        data: new Uint8Array(1),
        pixdim: [2],
        affine: [
          [1, 0, 0, 0],
          [0, 1, 0, 0],
          [0, 0, 1, 0],
          [0, 0, 0, 1],
        ],
      },
      /pixdim\[0\]/,
    ],
    ['zero slope', { dims: [1], datatype: 'int16', data: new Int16Array(1), sclSlope: 0 }, /sclSlope/],
    [
      'long description',
      { dims: [1], datatype: 'int16', data: new Int16Array(1), description: 'x'.repeat(80) },
      /description/,
    ],
  ])('rejects %s with an InputError', (_name, input, message) => {
    expect(() => encodeNifti(input as Parameters<typeof encodeNifti>[0])).toThrow(InputError);
    expect(() => encodeNifti(input as Parameters<typeof encodeNifti>[0])).toThrow(message);
  });
});

describe('writeNifti', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'phcc-nifti-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const image = {
    dims: [3, 2, 2],
    pixdim: [1.2, 1.2, 3.5],
    datatype: 'int16' as const,
    data: Int16Array.from({ length: 12 }, (_, i) => 1000 * i - 3000),
  };

  it('gzips .nii.gz files: gunzip gives back the exact encoded bytes', async () => {
    const path = join(dir, 'a.nii.gz');
    await writeNifti(path, image);
    const onDisk = readFileSync(path);
    expect(onDisk.readUInt16BE(0)).toBe(0x1f8b); // gzip magic
    expect(gunzipSync(onDisk).equals(encodeNifti(image))).toBe(true);
  });

  it('writes .nii files uncompressed, sync and async alike', async () => {
    await writeNifti(join(dir, 'b.nii'), image);
    writeNiftiSync(join(dir, 'c.nii'), image);
    const expected = encodeNifti(image);
    expect(readFileSync(join(dir, 'b.nii')).equals(expected)).toBe(true);
    expect(readFileSync(join(dir, 'c.nii')).equals(expected)).toBe(true);
  });

  it('refuses other extensions', async () => {
    await expect(writeNifti(join(dir, 'd.img'), image)).rejects.toThrow(/\.nii or \.nii\.gz/);
  });
});
