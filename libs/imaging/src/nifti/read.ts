/**
 * NIfTI-1 / NIfTI-2 reader (.nii and .nii.gz, either byte order).
 *
 * The header is parsed by nifti-reader-js (maintained, handles both versions and byte orders);
 * what it gets wrong or leaves out for our use is done here, following nibabel so our numbers
 * match what researchers see in Python:
 * - the affine: nifti-reader-js prefers the qform whenever qform_code > sform_code, and for
 *   NIfTI-1 it keeps no sform at all in that case; nibabel (and this reader) use the sform when
 *   sform_code > 0, else the qform quaternion, else pixdim (nifti1.h "method 1").
 * - scaling: scl_slope 0 or non-finite means "no scaling", as in nibabel and nifti1.h.
 * - voxel decoding into scaled float32, checking the file really holds all the voxels.
 */
import { FileHandle, open } from 'node:fs/promises';
import { constants as fsConstants, readFileSync, Stats, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { createGunzip, gunzipSync } from 'node:zlib';
import * as nifti from 'nifti-reader-js';
import { InputError } from '../../../common/src';
import { Affine, NIFTI_DATATYPE_CODES, NiftiDatatypeName, NiftiImage } from './types';
import { affineFromPixdim, affineFromQuaternion } from './read-affine';
import {
  DEFAULT_MAX_NIFTI_BYTES,
  formatBytes,
  NIFTI_HEADER_BYTES,
  NiftiBudget,
  niftiBudget,
} from './read-budget';

const DATATYPE_BY_CODE = new Map<number, NiftiDatatypeName>(
  Object.entries(NIFTI_DATATYPE_CODES).map(([name, code]) => [code, name as NiftiDatatypeName]),
);

const BYTES_PER_VOXEL: Readonly<Record<NiftiDatatypeName, number>> = {
  uint8: 1,
  int8: 1,
  int16: 2,
  uint16: 2,
  int32: 4,
  uint32: 4,
  float32: 4,
  float64: 8,
};

/** Names of the DT_* codes we do not read, so the error says what the file holds. */
const UNSUPPORTED_DATATYPE_NAMES: Readonly<Record<number, string>> = {
  1: 'binary',
  32: 'complex64',
  128: 'rgb24',
  1024: 'int64',
  1280: 'uint64',
  1536: 'float128',
  1792: 'complex128',
  2048: 'complex256',
  2304: 'rgba32',
};

const SPATIAL_UNITS: Readonly<Record<number, string>> = { 0: 'unknown', 1: 'm', 2: 'mm', 3: 'um' };
const TIME_UNITS: Readonly<Record<number, string>> = {
  0: 'unknown',
  8: 'sec',
  16: 'msec',
  24: 'usec',
  32: 'hz',
  40: 'ppm',
  48: 'rads',
};

/** Thrown for a file that is not a readable NIfTI image; message starts with the file name. */
export class NiftiReadError extends InputError {
  constructor(source: string, reason: string, code = 'BAD_NIFTI') {
    super(`${source}: ${reason}`, code);
  }
}

export interface NiftiReadOptions {
  /**
   * Most memory one image may take while read (uncompressed file bytes + float32 voxels), judged
   * from the header before anything is inflated or allocated; default DEFAULT_MAX_NIFTI_BYTES.
   */
  maxBytes?: number;
}

/**
 * Reads a .nii or .nii.gz file (gzip is detected from the bytes, not the name). Bounded: only
 * regular files are opened (a device, FIFO or socket is refused before it can block or stream
 * forever), the header's dims × bytes per voxel are checked against `maxBytes` first, and a gzip
 * stream is inflated only up to what the header says the file holds — a bomb that inflates to
 * gigabytes costs the header's size, and trailing data is never read.
 */
export async function readNifti(path: string, options: NiftiReadOptions = {}): Promise<NiftiImage> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_NIFTI_BYTES;
  let handle: FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer before we can see what it is.
    handle = await open(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  } catch (err) {
    throw fileError(path, err);
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw notRegular(path, stats);
    const head = Buffer.alloc(Math.min(NIFTI_HEADER_BYTES, stats.size));
    await handle.read(head, 0, head.length, 0);
    if (isGzip(head)) {
      const source = handle.createReadStream({ start: 0, autoClose: false });
      return parseNifti(await inflateWithinBudget(source, path, maxBytes), path);
    }
    const want = checkedBudget(head, path, maxBytes)?.fileBytes ?? head.length;
    const bytes = Buffer.alloc(Math.min(want, stats.size));
    let filled = 0;
    while (filled < bytes.length) {
      const { bytesRead } = await handle.read(bytes, filled, bytes.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return parseNifti(bytes.subarray(0, filled), path);
  } finally {
    await handle.close();
  }
}

/**
 * Synchronous twin of readNifti for callers that have no event loop to share (tests). The same
 * file-kind and header checks; gzip output is capped at `maxBytes` (zlib's maxOutputLength).
 */
export function readNiftiSync(path: string, options: NiftiReadOptions = {}): NiftiImage {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_NIFTI_BYTES;
  let bytes: Uint8Array;
  try {
    const stats = statSync(path);
    if (!stats.isFile()) throw notRegular(path, stats);
    bytes = readFileSync(path);
  } catch (err) {
    if (err instanceof NiftiReadError) throw err;
    throw fileError(path, err);
  }
  if (isGzip(bytes)) {
    try {
      bytes = gunzipSync(bytes, { maxOutputLength: maxBytes });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new NiftiReadError(
          path,
          `inflates to more than the ${formatBytes(maxBytes)} cap`,
          'NIFTI_TOO_LARGE',
        );
      }
      throw new NiftiReadError(path, `corrupt gzip stream (${(err as Error).message})`);
    }
  }
  checkedBudget(bytes, path, maxBytes);
  return parseNifti(bytes, path);
}

/** The header's budget, refused when over `maxBytes`; undefined when the header is unreadable. */
function checkedBudget(header: Uint8Array, path: string, maxBytes: number): NiftiBudget | undefined {
  const budget = niftiBudget(header);
  if (budget && budget.memoryBytes > maxBytes) {
    throw new NiftiReadError(
      path,
      `its header declares ${budget.voxels} voxels, which need ${formatBytes(budget.memoryBytes)} to read; ` +
        `the cap is ${formatBytes(maxBytes)}`,
      'NIFTI_TOO_LARGE',
    );
  }
  return budget;
}

/**
 * Inflates until the header's budget is filled, then stops reading: what the header does not
 * describe is never inflated. A gzip error after the budget is filled cannot matter, and one
 * before it is reported as the corrupt stream it is.
 */
async function inflateWithinBudget(source: Readable, path: string, maxBytes: number): Promise<Uint8Array> {
  const gunzip = createGunzip();
  source.on('error', (err) => gunzip.destroy(err));
  source.pipe(gunzip);
  const head: Buffer[] = [];
  let headLength = 0;
  let out: Buffer | undefined;
  let filled = 0;
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      if (!out) {
        head.push(chunk);
        headLength += chunk.length;
        if (headLength < NIFTI_HEADER_BYTES) continue;
        const joined = Buffer.concat(head);
        const budget = checkedBudget(joined, path, maxBytes);
        // An unreadable header: keep just the header, the parser says what is wrong with it.
        out = Buffer.alloc(budget ? budget.fileBytes : NIFTI_HEADER_BYTES);
        filled = joined.copy(out, 0, 0, Math.min(joined.length, out.length));
      } else {
        filled += chunk.copy(out, filled, 0, Math.min(chunk.length, out.length - filled));
      }
      if (filled >= out.length) break;
    }
  } catch (err) {
    if (err instanceof NiftiReadError) throw err;
    throw new NiftiReadError(path, `corrupt gzip stream (${(err as Error).message})`);
  } finally {
    source.unpipe(gunzip);
    source.destroy();
    gunzip.destroy();
  }
  if (!out) {
    const joined = Buffer.concat(head);
    checkedBudget(joined, path, maxBytes);
    return joined;
  }
  return out.subarray(0, filled);
}

function notRegular(path: string, stats: Stats): NiftiReadError {
  const kind = stats.isDirectory()
    ? 'a directory'
    : stats.isFIFO()
      ? 'a FIFO'
      : stats.isSocket()
        ? 'a socket'
        : stats.isCharacterDevice() || stats.isBlockDevice()
          ? 'a device'
          : 'not a regular file';
  return new NiftiReadError(path, `is ${kind}; only regular files are read`, 'NIFTI_NOT_REGULAR');
}

/** ENOENT gets its own code so a cohort report can say "missing file" rather than "unreadable". */
function fileError(path: string, err: unknown): NiftiReadError {
  const code = (err as NodeJS.ErrnoException).code;
  return new NiftiReadError(
    path,
    `cannot read file (${code ?? String(err)})`,
    code === 'ENOENT' ? 'NIFTI_NOT_FOUND' : 'NIFTI_UNREADABLE',
  );
}

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Decodes an uncompressed single-file NIfTI (header + voxels) held in memory. */
export function parseNifti(bytes: Uint8Array, name = '<buffer>'): NiftiImage {
  // nifti-reader-js wants an ArrayBuffer that starts at the header.
  const buffer = toArrayBuffer(bytes);
  const version = nifti.isNIFTI2(buffer, true) ? 2 : nifti.isNIFTI1(buffer, true) ? 1 : 0;
  if (version === 0) {
    throw new NiftiReadError(name, 'not a NIfTI-1 or NIfTI-2 file (bad header size or magic)');
  }
  let header: nifti.NIFTI1 | nifti.NIFTI2;
  try {
    const parsed = nifti.readHeader(buffer, true);
    if (!parsed) throw new Error('no header');
    header = parsed;
  } catch (err) {
    throw new NiftiReadError(name, `unreadable header (${(err as Error).message})`);
  }
  if (header.magic.startsWith('ni')) {
    throw new NiftiReadError(name, 'is a .hdr/.img pair header; convert it to a single .nii file');
  }

  const ndim = header.dims[0];
  if (!Number.isInteger(ndim) || ndim < 1 || ndim > 7) {
    throw new NiftiReadError(name, `invalid dim[0] = ${ndim} (must be 1..7)`);
  }
  const dims = header.dims.slice(1, ndim + 1);
  if (dims.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new NiftiReadError(name, `invalid dims [${dims.join(', ')}]`);
  }
  const pixdim = header.pixDims.slice(1, ndim + 1);

  const datatype = DATATYPE_BY_CODE.get(header.datatypeCode);
  if (!datatype) {
    const known = UNSUPPORTED_DATATYPE_NAMES[header.datatypeCode];
    throw new NiftiReadError(
      name,
      `unsupported datatype ${header.datatypeCode}${known ? ` (${known})` : ''}; ` +
        `readable: ${[...DATATYPE_BY_CODE.keys()].map((c) => `${c} (${DATATYPE_BY_CODE.get(c)})`).join(', ')}`,
      'UNSUPPORTED_DATATYPE',
    );
  }

  const { slope, inter } = scaling(header.scl_slope, header.scl_inter, name);
  const view = new DataView(buffer);
  const affine = chooseAffine(header, view, version, pixdim);

  const voxelCount = dims.reduce((a, b) => a * b, 1);
  const offset = Number(header.vox_offset);
  const headerBytes = version === 1 ? 348 : 540;
  if (offset < headerBytes) {
    // The voxels would be read from the header itself (found by the fuzz target).
    throw new NiftiReadError(name, `vox_offset ${offset} lies inside the ${headerBytes}-byte header`);
  }
  const byteLength = voxelCount * BYTES_PER_VOXEL[datatype];
  if (!Number.isFinite(offset) || offset < 0 || offset + byteLength > buffer.byteLength) {
    throw new NiftiReadError(
      name,
      `truncated: ${voxelCount} voxels of ${datatype} need ${byteLength} bytes from offset ${offset}, ` +
        `file has ${Math.max(0, buffer.byteLength - offset)}`,
    );
  }
  const data = decodeVoxels(view, offset, voxelCount, datatype, header.littleEndian, slope, inter);

  return {
    niftiVersion: version,
    dims,
    pixdim,
    datatype,
    datatypeCode: header.datatypeCode,
    littleEndian: header.littleEndian,
    affine,
    sformCode: header.sform_code,
    qformCode: header.qform_code,
    sclSlope: slope,
    sclInter: inter,
    spatialUnit: SPATIAL_UNITS[header.xyzt_units & 0x07] ?? 'unknown',
    timeUnit: TIME_UNITS[header.xyzt_units & 0x38] ?? 'unknown',
    description: header.description.replace(/\0+$/, '').trim(),
    data,
  };
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  if (
    bytes.byteOffset === 0 &&
    bytes.byteLength === bytes.buffer.byteLength &&
    bytes.buffer instanceof ArrayBuffer
  ) {
    return bytes.buffer;
  }
  // Copy (Buffer#slice would only make another view of Node's shared pool).
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return copy.buffer;
}

/** nifti1.h: slope 0 (or NaN/Inf, which nibabel also treats as unset) means "no scaling". */
function scaling(rawSlope: number, rawInter: number, name: string): { slope: number; inter: number } {
  if (rawSlope === 0 || !Number.isFinite(rawSlope)) return { slope: 1, inter: 0 };
  if (!Number.isFinite(rawInter)) {
    throw new NiftiReadError(name, `scl_slope is ${rawSlope} but scl_inter is ${rawInter}`);
  }
  return { slope: rawSlope, inter: rawInter };
}

/** nibabel's get_best_affine order: sform (code > 0), then qform (code > 0), then pixdim. */
function chooseAffine(
  header: nifti.NIFTI1 | nifti.NIFTI2,
  view: DataView,
  version: 1 | 2,
  pixdim: number[],
): Affine {
  const spacing = [pixdim[0] ?? 1, pixdim[1] ?? 1, pixdim[2] ?? 1];
  if (header.sform_code > 0) return readSform(view, version, header.littleEndian);
  if (header.qform_code > 0) {
    return affineFromQuaternion(
      [header.quatern_b, header.quatern_c, header.quatern_d],
      [header.qoffset_x, header.qoffset_y, header.qoffset_z],
      spacing,
      header.pixDims[0],
    );
  }
  return affineFromPixdim(spacing);
}

/** srow_x/y/z straight from the header: nifti-reader-js drops them when it prefers the qform. */
function readSform(view: DataView, version: 1 | 2, littleEndian: boolean): Affine {
  const rows: number[][] = [];
  for (let r = 0; r < 3; r++) {
    const row: number[] = [];
    for (let c = 0; c < 4; c++) {
      row.push(
        version === 1
          ? view.getFloat32(280 + (r * 4 + c) * 4, littleEndian)
          : view.getFloat64(400 + (r * 4 + c) * 8, littleEndian),
      );
    }
    rows.push(row);
  }
  rows.push([0, 0, 0, 1]);
  return rows;
}

function decodeVoxels(
  view: DataView,
  offset: number,
  count: number,
  datatype: NiftiDatatypeName,
  littleEndian: boolean,
  slope: number,
  inter: number,
): Float32Array {
  const out = new Float32Array(count);
  const raw = nativeView(view, offset, count, datatype, littleEndian);
  if (raw) {
    if (slope === 1 && inter === 0) out.set(raw);
    else for (let i = 0; i < count; i++) out[i] = raw[i] * slope + inter;
    return out;
  }
  const read = elementReader(view, datatype, littleEndian);
  const step = BYTES_PER_VOXEL[datatype];
  for (let i = 0, p = offset; i < count; i++, p += step) out[i] = read(p) * slope + inter;
  return out;
}

type NumericArray =
  Uint8Array | Int8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | Float32Array | Float64Array;

/** A zero-copy typed-array view when byte order and alignment allow it (the common, fast case). */
function nativeView(
  view: DataView,
  offset: number,
  count: number,
  datatype: NiftiDatatypeName,
  littleEndian: boolean,
): NumericArray | undefined {
  const step = BYTES_PER_VOXEL[datatype];
  const start = view.byteOffset + offset;
  if (step > 1 && (!littleEndian || !hostIsLittleEndian || start % step !== 0)) return undefined;
  const buf = view.buffer;
  switch (datatype) {
    case 'uint8':
      return new Uint8Array(buf, start, count);
    case 'int8':
      return new Int8Array(buf, start, count);
    case 'int16':
      return new Int16Array(buf, start, count);
    case 'uint16':
      return new Uint16Array(buf, start, count);
    case 'int32':
      return new Int32Array(buf, start, count);
    case 'uint32':
      return new Uint32Array(buf, start, count);
    case 'float32':
      return new Float32Array(buf, start, count);
    case 'float64':
      return new Float64Array(buf, start, count);
  }
}

const hostIsLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function elementReader(view: DataView, datatype: NiftiDatatypeName, le: boolean): (pos: number) => number {
  switch (datatype) {
    case 'uint8':
      return (p) => view.getUint8(p);
    case 'int8':
      return (p) => view.getInt8(p);
    case 'int16':
      return (p) => view.getInt16(p, le);
    case 'uint16':
      return (p) => view.getUint16(p, le);
    case 'int32':
      return (p) => view.getInt32(p, le);
    case 'uint32':
      return (p) => view.getUint32(p, le);
    case 'float32':
      return (p) => view.getFloat32(p, le);
    case 'float64':
      return (p) => view.getFloat64(p, le);
  }
}

/**
 * The on-disk type spelled as numpy's `str(dtype)` does (nibabel's `get_data_dtype()`):
 * 'float32' for native little-endian, '>f4' for big-endian, 'uint8' for single bytes.
 */
export function numpyDtypeString(image: Pick<NiftiImage, 'datatype' | 'littleEndian'>): string {
  const size = BYTES_PER_VOXEL[image.datatype];
  if (size === 1 || image.littleEndian) return image.datatype;
  const kind = image.datatype.startsWith('float') ? 'f' : image.datatype.startsWith('u') ? 'u' : 'i';
  return `>${kind}${size}`;
}
