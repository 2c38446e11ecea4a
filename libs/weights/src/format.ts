/**
 * The weight buffer format, version 1 (documented byte for byte in docs/WEIGHTS.md):
 *
 *   offset 0   4 bytes  magic "PHCW"
 *   offset 4   uint32 LE format version (1)
 *   offset 8   uint32 LE header length H
 *   offset 12  H bytes  UTF-8 JSON header {"tensors":[…]}, tensors sorted by name
 *   …          zero padding up to the next multiple of 8 = data start
 *   data start tensors' data, little-endian, each at an 8-aligned offset relative to data start,
 *              laid out in header order with zero padding between them; the buffer ends at the
 *              last tensor's last byte.
 */

/** One model weight as it crosses the network: shape plus row-major float32 values. */
export interface NamedArray {
  name: string;
  shape: number[];
  values: Float32Array;
}

/** How a tensor's values are stored: exact, IEEE half, or symmetric per-tensor int8. */
export type WeightEncoding = 'float32' | 'float16' | 'int8';

export const WEIGHT_ENCODINGS: readonly WeightEncoding[] = ['float32', 'float16', 'int8'];

/** One tensor's entry in the header, as read back and checked. */
export interface WeightsTensorEntry {
  name: string;
  shape: number[];
  dtype: WeightEncoding;
  /** Number of values: product of the shape (1 for a scalar). */
  size: number;
  /** Offset of the data relative to the data section, as stored in the header. */
  offset: number;
  /** Absolute offset of the data in the buffer (data start + offset). */
  byteOffset: number;
  byteLength: number;
  /** int8 only: value = q × scale. */
  scale?: number;
}

/** What `readWeightsHeader` returns: the whole layout without touching the data. */
export interface WeightsHeader {
  version: number;
  headerLength: number;
  /** Absolute offset where the data section starts (8-aligned). */
  dataOffset: number;
  /** Total buffer length in bytes. */
  totalBytes: number;
  /** Sum of the tensors' sizes. */
  totalParams: number;
  tensors: WeightsTensorEntry[];
}

export const WEIGHTS_MAGIC = Uint8Array.of(0x50, 0x48, 0x43, 0x57); // "PHCW"
export const WEIGHTS_FORMAT_VERSION = 1;
/** magic + version + header length. */
export const PRELUDE_BYTES = 12;
export const ALIGNMENT = 8;

/** Printable ASCII only: byte order = code-unit order = code-point order in every language. */
export const NAME_PATTERN = /^[\x20-\x7e]+$/;
export const MAX_NAME_LENGTH = 256;
export const MAX_RANK = 8;

export const BYTES_PER_VALUE: Record<WeightEncoding, number> = { float32: 4, float16: 2, int8: 1 };

export function alignUp(n: number): number {
  return Math.ceil(n / ALIGNMENT) * ALIGNMENT;
}

/** Canonical tensor order: by name, compared as (ASCII) strings. */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function describeShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
