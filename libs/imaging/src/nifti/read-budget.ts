/**
 * What reading a NIfTI file will cost, known from its header alone — before a voxel is inflated
 * or allocated — so a small file that claims (or inflates to) gigabytes is refused up front.
 */
import { NIFTI_DATATYPE_CODES } from './types';

/** Default cap on the memory one image may take while read (file bytes + float32 voxels). */
export const DEFAULT_MAX_NIFTI_BYTES = 2 * 1024 ** 3;

/** Bytes of the largest header (NIfTI-2); NIfTI-1 needs 348. */
export const NIFTI_HEADER_BYTES = 540;

const BYTES_BY_CODE = new Map<number, number>([
  [NIFTI_DATATYPE_CODES.uint8, 1],
  [NIFTI_DATATYPE_CODES.int8, 1],
  [NIFTI_DATATYPE_CODES.int16, 2],
  [NIFTI_DATATYPE_CODES.uint16, 2],
  [NIFTI_DATATYPE_CODES.int32, 4],
  [NIFTI_DATATYPE_CODES.uint32, 4],
  [NIFTI_DATATYPE_CODES.float32, 4],
  [NIFTI_DATATYPE_CODES.float64, 8],
]);

export interface NiftiBudget {
  /** Bytes of the uncompressed file that hold the header and every voxel (vox_offset + data). */
  fileBytes: number;
  voxels: number;
  /** fileBytes + the float32 voxels the reader returns: the peak the read costs. */
  memoryBytes: number;
}

/**
 * The budget of an uncompressed header (first ≥ 348 bytes), or undefined when the header is not
 * one we can read — the full parser then says why, having read only the header.
 */
export function niftiBudget(header: Uint8Array): NiftiBudget | undefined {
  if (header.length < 348) return undefined;
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  for (const le of [true, false]) {
    const size = view.getInt32(0, le);
    let ndim: number, datatype: number, voxOffset: number;
    const dims: number[] = [];
    if (size === 348) {
      ndim = view.getInt16(40, le);
      for (let i = 1; i <= 7; i++) dims.push(view.getInt16(40 + 2 * i, le));
      datatype = view.getInt16(70, le);
      voxOffset = view.getFloat32(108, le);
    } else if (size === 540 && header.length >= 540) {
      datatype = view.getInt16(12, le);
      ndim = Number(view.getBigInt64(16, le));
      for (let i = 1; i <= 7; i++) dims.push(Number(view.getBigInt64(16 + 8 * i, le)));
      voxOffset = Number(view.getBigInt64(168, le));
    } else {
      continue;
    }
    const bytesPerVoxel = BYTES_BY_CODE.get(datatype);
    if (!bytesPerVoxel || !(ndim >= 1 && ndim <= 7)) return undefined;
    const used = dims.slice(0, ndim);
    if (used.some((d) => !Number.isSafeInteger(d) || d < 1) || !(voxOffset >= 0)) return undefined;
    const voxels = used.reduce((a, b) => a * b, 1);
    const fileBytes = Math.max(Math.floor(voxOffset), size) + voxels * bytesPerVoxel;
    return { fileBytes, voxels, memoryBytes: fileBytes + voxels * 4 };
  }
  return undefined;
}

export function formatBytes(bytes: number): string {
  return bytes >= 1024 ** 3
    ? `${(bytes / 1024 ** 3).toFixed(1)} GiB`
    : `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}
