/**
 * NIfTI-1 single-file writer (`.nii`, or gzipped `.nii.gz`): what the synthetic cohort generator
 * and the tests of the reader produce, so every file we write must be one nibabel, ITK-SNAP and
 * 3D Slicer open with the same geometry.
 *
 * Geometry decision: the affine is written twice. As the sform (sform_code 2, "aligned anat"),
 * exactly as given; and as the qform (qform_code 1, "scanner anat") when the affine's 3×3 part is
 * a rotation times a positive scaling, which the quaternion form can represent. A sheared affine
 * has no quaternion form, so its qform_code is 0 and readers use the sform alone. pixdim[1..3] are
 * the affine's column norms, so sform, qform and pixdim always agree.
 */
import { writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { gzip, gzipSync } from 'node:zlib';
import { promisify } from 'node:util';
import { InputError } from '../../../common/src';
import { Affine, NIFTI_DATATYPE_CODES } from './types';

const gzipAsync = promisify(gzip);

/** Voxel types this writer stores; the generator needs no others. */
export type NiftiWriteDatatype = 'uint8' | 'int16' | 'float32';

/** The typed array that holds each writable datatype. */
export interface NiftiWriteArrays {
  uint8: Uint8Array;
  int16: Int16Array;
  float32: Float32Array;
}

export type NiftiSpatialUnit = 'unknown' | 'm' | 'mm' | 'um';
export type NiftiTimeUnit = 'unknown' | 's' | 'ms' | 'us';

export interface NiftiWriteInput<D extends NiftiWriteDatatype = NiftiWriteDatatype> {
  /** Size of each dimension (1 to 7 of them); x varies fastest in `data`. */
  dims: number[];
  /**
   * Spacing per dimension. Spatial entries (the first three) must match the affine's column
   * norms when both are given; omitted, they are taken from the affine. Entries past the third
   * (e.g. the time step of a 4-D series) are written as given (default 0 = not uniform).
   */
  pixdim?: number[];
  /** Voxel (i, j, k) → world mm, 4×4 row-major; default diag(pixdim[0..2], 1). */
  affine?: Affine;
  datatype: D;
  data: NiftiWriteArrays[D];
  /** Stored value × sclSlope + sclInter = real value. Default: no scaling (1, 0). */
  sclSlope?: number;
  sclInter?: number;
  /** Up to 79 ASCII characters (the header's descrip field). */
  description?: string;
  xyztUnits?: { space?: NiftiSpatialUnit; time?: NiftiTimeUnit };
  /** NIfTI intent code (default 0 = none) and intent name (≤ 15 ASCII characters). */
  intentCode?: number;
  intentName?: string;
  /** Display range of real values; default: min and max of the scaled data. */
  calMin?: number;
  calMax?: number;
}

const HEADER_SIZE = 348;
/** 348-byte header + 4-byte extension flag (all zero: no extensions). */
const VOX_OFFSET = 352;
const BITPIX: Record<NiftiWriteDatatype, number> = { uint8: 8, int16: 16, float32: 32 };
const ARRAY_TYPES: Record<NiftiWriteDatatype, new (n: number) => ArrayLike<number>> = {
  uint8: Uint8Array,
  int16: Int16Array,
  float32: Float32Array,
};
const SPACE_UNIT_CODES: Record<NiftiSpatialUnit, number> = { unknown: 0, m: 1, mm: 2, um: 3 };
const TIME_UNIT_CODES: Record<NiftiTimeUnit, number> = { unknown: 0, s: 8, ms: 16, us: 24 };
/** Relative tolerance for "the 3×3 part is rotation × scaling" and "pixdim matches the affine". */
const GEOMETRY_TOLERANCE = 1e-4;

/** The whole file (header + voxels) in memory, uncompressed. */
export function encodeNifti<D extends NiftiWriteDatatype>(image: NiftiWriteInput<D>): Buffer {
  const { dims, datatype } = validateShape(image);
  const affine = image.affine ?? defaultAffine(image.pixdim);
  validateAffine(affine);
  const spacing = spatialSpacing(affine, image.pixdim);
  const quatern = quaternionForm(affine);
  const slope = image.sclSlope ?? 1;
  const inter = image.sclInter ?? 0;
  if (!Number.isFinite(slope) || slope === 0) {
    throw new InputError(`NIfTI sclSlope must be a finite non-zero number (got ${slope})`);
  }
  if (!Number.isFinite(inter)) throw new InputError(`NIfTI sclInter must be finite (got ${inter})`);
  const [calMin, calMax] = displayRange(image, slope, inter);

  const voxelBytes = image.data.length * (BITPIX[datatype] / 8);
  const out = Buffer.alloc(VOX_OFFSET + voxelBytes);
  out.writeInt32LE(HEADER_SIZE, 0);
  out.write('r', 38, 'latin1'); // "regular": what nibabel and FSL write
  out.writeInt16LE(dims.length, 40);
  dims.forEach((d, i) => out.writeInt16LE(d, 42 + 2 * i));
  for (let i = dims.length; i < 7; i++) out.writeInt16LE(1, 42 + 2 * i); // unused dims are 1
  out.writeInt16LE(image.intentCode ?? 0, 68);
  out.writeInt16LE(NIFTI_DATATYPE_CODES[datatype], 70);
  out.writeInt16LE(BITPIX[datatype], 72);
  out.writeFloatLE(quatern ? quatern.qfac : 1, 76); // pixdim[0] = qfac
  for (let i = 0; i < 7; i++) {
    const value = i < 3 ? spacing[i] : (image.pixdim?.[i] ?? (i < dims.length ? 0 : 1));
    out.writeFloatLE(value, 80 + 4 * i);
  }
  out.writeFloatLE(VOX_OFFSET, 108);
  out.writeFloatLE(slope, 112);
  out.writeFloatLE(inter, 116);
  const units = image.xyztUnits ?? {};
  out.writeUInt8(SPACE_UNIT_CODES[units.space ?? 'mm'] | TIME_UNIT_CODES[units.time ?? 's'], 123);
  out.writeFloatLE(calMax, 124);
  out.writeFloatLE(calMin, 128);
  writeAscii(out, image.description ?? '', 148, 80, 'description');
  out.writeInt16LE(quatern ? 1 : 0, 252); // qform_code: scanner anat
  out.writeInt16LE(2, 254); // sform_code: aligned anat
  if (quatern) {
    out.writeFloatLE(quatern.b, 256);
    out.writeFloatLE(quatern.c, 260);
    out.writeFloatLE(quatern.d, 264);
  }
  out.writeFloatLE(affine[0][3], 268);
  out.writeFloatLE(affine[1][3], 272);
  out.writeFloatLE(affine[2][3], 276);
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 4; c++) out.writeFloatLE(affine[r][c], 280 + 16 * r + 4 * c);
  }
  writeAscii(out, image.intentName ?? '', 328, 16, 'intentName');
  out.write('n+1\0', 344, 'latin1');
  // bytes 348..351 stay 0: no header extensions.
  writeVoxels(out, image.data, datatype);
  return out;
}

/** Write `.nii` or, when the path ends in `.nii.gz`, gzip it (on libuv's thread pool). */
export async function writeNifti<D extends NiftiWriteDatatype>(
  path: string,
  image: NiftiWriteInput<D>,
  options: { gzipLevel?: number } = {},
): Promise<void> {
  const raw = encodeNifti(image);
  const bytes = isGzipPath(path) ? await gzipAsync(raw, { level: options.gzipLevel ?? 6 }) : raw;
  await writeFile(path, bytes);
}

/** Synchronous twin of writeNifti, for scripts and tests. */
export function writeNiftiSync<D extends NiftiWriteDatatype>(
  path: string,
  image: NiftiWriteInput<D>,
  options: { gzipLevel?: number } = {},
): void {
  const raw = encodeNifti(image);
  writeFileSync(path, isGzipPath(path) ? gzipSync(raw, { level: options.gzipLevel ?? 6 }) : raw);
}

function isGzipPath(path: string): boolean {
  if (path.endsWith('.nii.gz')) return true;
  if (path.endsWith('.nii')) return false;
  throw new InputError(`NIfTI output path must end in .nii or .nii.gz: ${path}`);
}

function validateShape<D extends NiftiWriteDatatype>(image: NiftiWriteInput<D>) {
  const { dims, datatype, data } = image;
  if (!(datatype in BITPIX)) {
    throw new InputError(`NIfTI datatype must be one of ${Object.keys(BITPIX).join(', ')} (got ${datatype})`);
  }
  if (!Array.isArray(dims) || dims.length < 1 || dims.length > 7) {
    throw new InputError(
      `NIfTI dims must have 1 to 7 entries (got ${Array.isArray(dims) ? dims.length : dims})`,
    );
  }
  dims.forEach((d, i) => {
    if (!Number.isInteger(d) || d < 1 || d > 32767) {
      throw new InputError(`NIfTI dims[${i}] must be an integer in 1..32767 (got ${d})`);
    }
  });
  if (!(data instanceof ARRAY_TYPES[datatype])) {
    throw new InputError(`NIfTI data for datatype ${datatype} must be a ${ARRAY_TYPES[datatype].name}`);
  }
  const expected = dims.reduce((a, b) => a * b, 1);
  if (data.length !== expected) {
    throw new InputError(`NIfTI data has ${data.length} values but dims ${dims.join('×')} need ${expected}`);
  }
  if (image.pixdim !== undefined) {
    image.pixdim.forEach((p, i) => {
      if (!Number.isFinite(p) || p < 0) {
        throw new InputError(`NIfTI pixdim[${i}] must be a finite number ≥ 0 (got ${p})`);
      }
    });
  }
  return { dims, datatype };
}

function defaultAffine(pixdim: number[] | undefined): Affine {
  const s = [0, 1, 2].map((i) => pixdim?.[i] || 1);
  return [
    [s[0], 0, 0, 0],
    [0, s[1], 0, 0],
    [0, 0, s[2], 0],
    [0, 0, 0, 1],
  ];
}

function validateAffine(affine: Affine): void {
  const ok =
    Array.isArray(affine) &&
    affine.length === 4 &&
    affine.every((row) => Array.isArray(row) && row.length === 4 && row.every(Number.isFinite));
  if (!ok) throw new InputError('NIfTI affine must be a 4×4 array of finite numbers');
  const [a, b, c, d] = affine[3];
  if (a !== 0 || b !== 0 || c !== 0 || d !== 1) {
    throw new InputError(`NIfTI affine's last row must be [0, 0, 0, 1] (got [${affine[3].join(', ')}])`);
  }
  if (Math.abs(det3(affine)) < 1e-12) throw new InputError('NIfTI affine is singular (zero voxel volume)');
}

/** Column norms of the affine = voxel size; checked against any pixdim the caller gave. */
function spatialSpacing(affine: Affine, pixdim: number[] | undefined): number[] {
  return [0, 1, 2].map((c) => {
    const norm = Math.hypot(affine[0][c], affine[1][c], affine[2][c]);
    const given = pixdim?.[c];
    if (given !== undefined && Math.abs(given - norm) > GEOMETRY_TOLERANCE * Math.max(1, norm)) {
      throw new InputError(
        `NIfTI pixdim[${c}] = ${given} disagrees with the affine's voxel size ${norm.toPrecision(6)}`,
      );
    }
    return norm;
  });
}

interface QuaternionForm {
  b: number;
  c: number;
  d: number;
  qfac: 1 | -1;
}

/**
 * The qform of an affine whose 3×3 part is rotation × diag(spacing) (possibly with a flipped
 * third axis, qfac = -1), following nifti1_io's nifti_mat44_to_quatern; undefined when sheared.
 */
function quaternionForm(affine: Affine): QuaternionForm | undefined {
  const r = [0, 1, 2].map((row) => [0, 1, 2].map((col) => affine[row][col]));
  for (let c = 0; c < 3; c++) {
    const norm = Math.hypot(r[0][c], r[1][c], r[2][c]);
    for (let row = 0; row < 3; row++) r[row][c] /= norm;
  }
  let qfac: 1 | -1 = 1;
  if (det3(r) < 0) {
    qfac = -1;
    for (let row = 0; row < 3; row++) r[row][2] = -r[row][2];
  }
  for (let i = 0; i < 3; i++) {
    for (let j = i; j < 3; j++) {
      const dot = r[0][i] * r[0][j] + r[1][i] * r[1][j] + r[2][i] * r[2][j];
      if (Math.abs(dot - (i === j ? 1 : 0)) > GEOMETRY_TOLERANCE) return undefined;
    }
  }
  let a = r[0][0] + r[1][1] + r[2][2] + 1;
  let b: number;
  let c: number;
  let d: number;
  if (a > 0.5) {
    a = 0.5 * Math.sqrt(a);
    b = (0.25 * (r[2][1] - r[1][2])) / a;
    c = (0.25 * (r[0][2] - r[2][0])) / a;
    d = (0.25 * (r[1][0] - r[0][1])) / a;
  } else {
    const xd = 1 + r[0][0] - (r[1][1] + r[2][2]);
    const yd = 1 + r[1][1] - (r[0][0] + r[2][2]);
    const zd = 1 + r[2][2] - (r[0][0] + r[1][1]);
    if (xd > 1) {
      b = 0.5 * Math.sqrt(xd);
      c = (0.25 * (r[0][1] + r[1][0])) / b;
      d = (0.25 * (r[0][2] + r[2][0])) / b;
      a = (0.25 * (r[2][1] - r[1][2])) / b;
    } else if (yd > 1) {
      c = 0.5 * Math.sqrt(yd);
      b = (0.25 * (r[0][1] + r[1][0])) / c;
      d = (0.25 * (r[1][2] + r[2][1])) / c;
      a = (0.25 * (r[0][2] - r[2][0])) / c;
    } else {
      d = 0.5 * Math.sqrt(zd);
      b = (0.25 * (r[0][2] + r[2][0])) / d;
      c = (0.25 * (r[1][2] + r[2][1])) / d;
      a = (0.25 * (r[1][0] - r[0][1])) / d;
    }
    // The quaternion and its negative are the same rotation; NIfTI stores the one with a ≥ 0.
    if (a < 0) {
      b = -b;
      c = -c;
      d = -d;
    }
  }
  return { b, c, d, qfac };
}

function det3(m: number[][]): number {
  return (
    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
    m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
    m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
  );
}

function displayRange(image: NiftiWriteInput, slope: number, inter: number): [number, number] {
  if (image.calMin !== undefined || image.calMax !== undefined) {
    const lo = image.calMin ?? 0;
    const hi = image.calMax ?? 0;
    if (!Number.isFinite(lo) || !Number.isFinite(hi) || lo > hi) {
      throw new InputError(`NIfTI calMin/calMax must be finite with calMin ≤ calMax (got ${lo}, ${hi})`);
    }
    return [lo, hi];
  }
  let lo = Infinity;
  let hi = -Infinity;
  const data = image.data;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!Number.isFinite(lo)) return [0, 0]; // all NaN: 0/0 means "no display range" to viewers
  const a = lo * slope + inter;
  const b = hi * slope + inter;
  return [Math.min(a, b), Math.max(a, b)];
}

function writeAscii(out: Buffer, text: string, offset: number, fieldSize: number, name: string): void {
  // One byte is kept for the terminating NUL that C readers expect.
  if (!/^[\x20-\x7e]*$/.test(text) || text.length > fieldSize - 1) {
    throw new InputError(`NIfTI ${name} must be printable ASCII of at most ${fieldSize - 1} characters`);
  }
  out.write(text, offset, 'latin1');
}

function writeVoxels(
  out: Buffer,
  data: ArrayLike<number> & ArrayBufferView,
  datatype: NiftiWriteDatatype,
): void {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  bytes.copy(out, VOX_OFFSET);
  if (endianness() === 'BE' && BITPIX[datatype] > 8) {
    const region = out.subarray(VOX_OFFSET);
    if (BITPIX[datatype] === 16) region.swap16();
    else region.swap32();
  }
}
