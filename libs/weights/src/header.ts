import { WeightCodecError, WeightCodecErrorCode } from './errors';
import {
  alignUp,
  BYTES_PER_VALUE,
  MAX_NAME_LENGTH,
  MAX_RANK,
  NAME_PATTERN,
  PRELUDE_BYTES,
  WEIGHT_ENCODINGS,
  WEIGHTS_FORMAT_VERSION,
  WEIGHTS_MAGIC,
  WeightEncoding,
  WeightsHeader,
  WeightsTensorEntry,
} from './format';

export interface ReadHeaderOptions {
  /** Reject buffers longer than this before looking inside (the receiver's size limit). */
  maxBytes?: number;
}

const ENTRY_KEYS = new Set(['name', 'shape', 'dtype', 'offset', 'byteLength', 'scale']);

/**
 * Reads and checks the layout of a weight buffer without decoding any value: magic, version,
 * header JSON, every tensor's name, shape, dtype, offset and length, the padding, and that the
 * data section ends exactly at the last tensor. Every number from the header is checked against
 * the buffer's real length before anything is sized from it, so a hostile header cannot make the
 * receiver allocate. Tensor order and placement have exactly one accepted form (sorted names,
 * contiguous 8-aligned data, zero padding): no bytes in a signed buffer go unread.
 */
export function readWeightsHeader(buffer: Uint8Array, options: ReadHeaderOptions = {}): WeightsHeader {
  const totalBytes = buffer.byteLength;
  if (options.maxBytes !== undefined && totalBytes > options.maxBytes) {
    throw new WeightCodecError(
      `weights: buffer is ${totalBytes} bytes, over the limit of ${options.maxBytes}`,
      'TOO_LARGE',
    );
  }
  if (totalBytes < PRELUDE_BYTES) {
    throw new WeightCodecError(
      `weights: buffer is ${totalBytes} bytes, shorter than the ${PRELUDE_BYTES}-byte prelude`,
      'TRUNCATED',
    );
  }
  for (let i = 0; i < WEIGHTS_MAGIC.length; i++) {
    if (buffer[i] !== WEIGHTS_MAGIC[i]) {
      throw new WeightCodecError('weights: not a phcc-fed weight buffer (bad magic bytes)', 'BAD_MAGIC');
    }
  }
  const view = new DataView(buffer.buffer, buffer.byteOffset, totalBytes);
  const version = view.getUint32(4, true);
  if (version !== WEIGHTS_FORMAT_VERSION) {
    throw new WeightCodecError(
      `weights: format version ${version} is not supported (this build reads version ${WEIGHTS_FORMAT_VERSION})`,
      'UNSUPPORTED_VERSION',
    );
  }
  const headerLength = view.getUint32(8, true);
  if (headerLength > totalBytes - PRELUDE_BYTES) {
    throw new WeightCodecError(
      `weights: header length ${headerLength} runs past the end of the ${totalBytes}-byte buffer`,
      'TRUNCATED',
    );
  }
  const headerEnd = PRELUDE_BYTES + headerLength;
  const dataOffset = alignUp(headerEnd);
  if (dataOffset > totalBytes) {
    throw new WeightCodecError(
      `weights: buffer ends inside the header padding (${totalBytes} < ${dataOffset} bytes)`,
      'TRUNCATED',
    );
  }
  checkZero(buffer, headerEnd, dataOffset, 'after the header');

  const tensorsJson = parseHeaderJson(buffer.subarray(PRELUDE_BYTES, headerEnd));
  const tensors: WeightsTensorEntry[] = [];
  const dataBytes = totalBytes - dataOffset;
  let previousName: string | undefined;
  let previousEnd = 0;
  let totalParams = 0;
  tensorsJson.forEach((raw, index) => {
    const entry = checkEntry(raw, index, dataOffset, dataBytes);
    if (previousName !== undefined) {
      if (entry.name === previousName) {
        throw new WeightCodecError(
          `weights: tensor "${entry.name}" appears twice`,
          'DUPLICATE_NAME',
          entry.name,
        );
      }
      if (entry.name < previousName) {
        throw new WeightCodecError(
          `weights: tensor "${entry.name}" comes after "${previousName}"; tensors must be sorted by name`,
          'NOT_SORTED',
          entry.name,
        );
      }
    }
    checkPlacement(entry, previousEnd, dataBytes);
    checkZero(buffer, dataOffset + previousEnd, entry.byteOffset, `before tensor "${entry.name}"`);
    previousName = entry.name;
    previousEnd = entry.offset + entry.byteLength;
    totalParams += entry.size;
    tensors.push(entry);
  });
  if (previousEnd !== dataBytes) {
    throw new WeightCodecError(
      `weights: ${dataBytes - previousEnd} unexpected bytes after the last tensor's data`,
      'TRAILING_BYTES',
    );
  }
  return { version, headerLength, dataOffset, totalBytes, totalParams, tensors };
}

function parseHeaderJson(headerBytes: Uint8Array): unknown[] {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    throw new WeightCodecError('weights: header is not valid UTF-8', 'CORRUPT_HEADER');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (error) {
    throw new WeightCodecError(`weights: header is not JSON (${(error as Error).message})`, 'CORRUPT_HEADER');
  }
  if (!isPlainObject(header) || !Array.isArray(header.tensors)) {
    throw new WeightCodecError('weights: header must be an object with a "tensors" array', 'CORRUPT_HEADER');
  }
  const unknownKeys = Object.keys(header).filter((key) => key !== 'tensors');
  if (unknownKeys.length > 0) {
    throw new WeightCodecError(
      `weights: header has unknown field(s) ${unknownKeys.map((k) => JSON.stringify(k)).join(', ')}`,
      'CORRUPT_HEADER',
    );
  }
  return header.tensors as unknown[];
}

/** Checks one header entry's fields on their own (placement against neighbours comes after). */
function checkEntry(raw: unknown, index: number, dataOffset: number, dataBytes: number): WeightsTensorEntry {
  if (!isPlainObject(raw)) {
    throw new WeightCodecError(`weights: header tensor #${index} is not an object`, 'CORRUPT_HEADER');
  }
  const name = raw.name;
  if (typeof name !== 'string') {
    throw new WeightCodecError(`weights: header tensor #${index} has no string "name"`, 'CORRUPT_HEADER');
  }
  const nameProblem = checkName(name);
  if (nameProblem) throw new WeightCodecError(`weights: header tensor #${index}: ${nameProblem}`, 'BAD_NAME');
  const fail = (message: string, code: WeightCodecErrorCode): never => {
    throw new WeightCodecError(`weights: tensor "${name}": ${message}`, code, name);
  };
  for (const key of Object.keys(raw)) {
    if (!ENTRY_KEYS.has(key)) fail(`unknown field ${JSON.stringify(key)}`, 'CORRUPT_HEADER');
  }
  const dtype = raw.dtype;
  if (typeof dtype !== 'string' || !(WEIGHT_ENCODINGS as readonly string[]).includes(dtype)) {
    fail(
      `unknown dtype ${JSON.stringify(dtype)} (expected one of ${WEIGHT_ENCODINGS.join(', ')})`,
      'UNKNOWN_DTYPE',
    );
  }
  const encoding = dtype as WeightEncoding;
  const shapeProblem = checkShape(raw.shape);
  if (shapeProblem) fail(shapeProblem, 'BAD_SHAPE');
  const shape = [...(raw.shape as number[])];
  const offset = raw.offset;
  const byteLength = raw.byteLength;
  if (!isCount(offset)) {
    fail(`"offset" must be a non-negative integer, got ${JSON.stringify(offset)}`, 'CORRUPT_HEADER');
  }
  if (!isCount(byteLength)) {
    fail(`"byteLength" must be a non-negative integer, got ${JSON.stringify(byteLength)}`, 'CORRUPT_HEADER');
  }
  // The product is computed with an early stop, so an absurd shape cannot overflow into a small
  // number; any size whose bytes exceed the data section is rejected before anything is sized.
  const size = shapeSize(shape, dataBytes + 1);
  const expectedBytes = size * BYTES_PER_VALUE[encoding];
  if (size > dataBytes || byteLength !== expectedBytes) {
    fail(
      `byteLength ${byteLength} does not match shape [${shape.join(', ')}] × ${BYTES_PER_VALUE[encoding]} bytes ` +
        `(${encoding})`,
      'LENGTH_MISMATCH',
    );
  }
  let scale: number | undefined;
  if (encoding === 'int8') {
    scale = raw.scale as number;
    if (typeof scale !== 'number' || !Number.isFinite(scale) || scale < 0) {
      fail(`int8 "scale" must be a finite number ≥ 0, got ${JSON.stringify(raw.scale)}`, 'BAD_SCALE');
    }
  } else if ('scale' in raw) {
    fail(`"scale" is only allowed for int8, not ${encoding}`, 'BAD_SCALE');
  }
  const entry: WeightsTensorEntry = {
    name,
    shape,
    dtype: encoding,
    size,
    offset: offset as number,
    byteOffset: dataOffset + (offset as number),
    byteLength: byteLength as number,
  };
  if (scale !== undefined) entry.scale = scale;
  return entry;
}

function checkPlacement(entry: WeightsTensorEntry, previousEnd: number, dataBytes: number): void {
  const at = `tensor "${entry.name}": data at offset ${entry.offset}`;
  if (entry.offset % 8 !== 0) {
    throw new WeightCodecError(`weights: ${at} is not 8-byte aligned`, 'MISALIGNED', entry.name);
  }
  if (entry.offset < previousEnd) {
    throw new WeightCodecError(
      `weights: ${at} overlaps the previous tensor (which ends at ${previousEnd})`,
      'OVERLAP',
      entry.name,
    );
  }
  if (entry.offset + entry.byteLength > dataBytes) {
    if (entry.offset === alignUp(previousEnd)) {
      throw new WeightCodecError(
        `weights: buffer ends inside tensor "${entry.name}" (its ${entry.byteLength} bytes at offset ` +
          `${entry.offset} pass the ${dataBytes}-byte data section)`,
        'TRUNCATED',
        entry.name,
      );
    }
    throw new WeightCodecError(
      `weights: ${at} + ${entry.byteLength} bytes runs past the ${dataBytes}-byte data section`,
      'OUT_OF_RANGE',
      entry.name,
    );
  }
  if (entry.offset !== alignUp(previousEnd)) {
    throw new WeightCodecError(
      `weights: ${at} leaves a gap after the previous tensor (expected offset ${alignUp(previousEnd)})`,
      'GAP',
      entry.name,
    );
  }
}

/** Why a tensor name is unacceptable, or undefined when it is fine. */
export function checkName(name: string): string | undefined {
  if (name.length === 0) return 'tensor name is empty';
  if (name.length > MAX_NAME_LENGTH) return `tensor name is longer than ${MAX_NAME_LENGTH} characters`;
  if (!NAME_PATTERN.test(name))
    return `tensor name ${JSON.stringify(name)} has characters outside printable ASCII`;
  return undefined;
}

/** Why a shape is unacceptable, or undefined when it is fine. */
export function checkShape(shape: unknown): string | undefined {
  if (!Array.isArray(shape)) return `shape must be an array, got ${JSON.stringify(shape)}`;
  if (shape.length > MAX_RANK) return `shape has rank ${shape.length}, more than ${MAX_RANK}`;
  for (const dim of shape) {
    if (!isCount(dim))
      return `shape ${JSON.stringify(shape)} has a dimension that is not a non-negative integer`;
  }
  return undefined;
}

/** Product of the dimensions, or `cap` as soon as it would reach `cap` (never overflows). */
export function shapeSize(shape: readonly number[], cap = Number.MAX_SAFE_INTEGER): number {
  let size = 1;
  for (const dim of shape) {
    if (dim === 0) return 0;
    size *= dim;
    if (size >= cap) {
      // A later zero dimension still makes the tensor empty.
      return shape.includes(0) ? 0 : cap;
    }
  }
  return size;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkZero(buffer: Uint8Array, from: number, to: number, where: string): void {
  for (let i = from; i < to; i++) {
    if (buffer[i] !== 0) {
      throw new WeightCodecError(`weights: padding ${where} is not zero (byte ${i})`, 'BAD_PADDING');
    }
  }
}
