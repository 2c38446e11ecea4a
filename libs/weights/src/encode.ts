import { WeightCodecError } from './errors';
import {
  alignUp,
  BYTES_PER_VALUE,
  compareNames,
  describeShape,
  NamedArray,
  PRELUDE_BYTES,
  WEIGHT_ENCODINGS,
  WEIGHTS_FORMAT_VERSION,
  WEIGHTS_MAGIC,
  WeightEncoding,
} from './format';
import { checkName, checkShape, shapeSize } from './header';
import { int8Scale, writeTensorData } from './tensor-data';

/**
 * One encoding for every tensor, or a choice per tensor (e.g. keep small bias and norm vectors
 * exact while quantising the large kernels).
 */
export type EncodingChoice = WeightEncoding | ((array: NamedArray) => WeightEncoding);

interface PlannedTensor {
  array: NamedArray;
  dtype: WeightEncoding;
  offset: number;
  byteLength: number;
  /** int8 only. */
  scale?: number;
}

/**
 * Encodes named arrays into one buffer (format: see format.ts and docs/WEIGHTS.md). Tensors are
 * written sorted by name, so the same weights give the same bytes, and the same digest, whatever
 * order they came in. float32 keeps NaN/Inf (the receiver's checks must see them); float16 and
 * int8 refuse them because neither can represent them faithfully.
 */
export function encodeWeights(arrays: readonly NamedArray[], encoding: EncodingChoice = 'float32'): Buffer {
  const plan: PlannedTensor[] = [];
  let dataBytes = 0;
  for (const array of checkArrays(arrays)) {
    const dtype = typeof encoding === 'function' ? encoding(array) : encoding;
    if (!WEIGHT_ENCODINGS.includes(dtype)) {
      throw new WeightCodecError(
        `weights: unknown encoding ${JSON.stringify(dtype)} for tensor "${array.name}"`,
        'UNKNOWN_DTYPE',
        array.name,
      );
    }
    const offset = alignUp(dataBytes);
    const byteLength = array.values.length * BYTES_PER_VALUE[dtype];
    // The header, which precedes the data, carries each int8 scale: compute them up front.
    const scale = dtype === 'int8' ? int8Scale(array.values, array.name) : undefined;
    plan.push({ array, dtype, offset, byteLength, scale });
    dataBytes = offset + byteLength;
  }
  const headerBytes = Buffer.from(
    JSON.stringify({
      tensors: plan.map((t) => ({
        name: t.array.name,
        shape: t.array.shape,
        dtype: t.dtype,
        offset: t.offset,
        byteLength: t.byteLength,
        ...(t.scale === undefined ? {} : { scale: t.scale }),
      })),
    }),
    'utf8',
  );
  const dataStart = alignUp(PRELUDE_BYTES + headerBytes.length);
  // A fresh ArrayBuffer is zero-filled (the padding) and starts at offset 0 (aligned views).
  const out = Buffer.from(new ArrayBuffer(dataStart + dataBytes));
  out.set(WEIGHTS_MAGIC, 0);
  out.writeUInt32LE(WEIGHTS_FORMAT_VERSION, 4);
  out.writeUInt32LE(headerBytes.length, 8);
  out.set(headerBytes, PRELUDE_BYTES);
  for (const t of plan) {
    writeTensorData(t.array.values, t.dtype, out, dataStart + t.offset, t.array.name, t.scale);
  }
  return out;
}

/** Validates names and shapes and returns the arrays in canonical (name) order. */
function checkArrays(arrays: readonly NamedArray[]): NamedArray[] {
  const sorted = [...arrays].sort((a, b) => compareNames(a.name, b.name));
  for (let i = 0; i < sorted.length; i++) {
    const { name, shape, values } = sorted[i];
    const nameProblem = typeof name === 'string' ? checkName(name) : 'tensor name is not a string';
    if (nameProblem) throw new WeightCodecError(`weights: ${nameProblem}`, 'BAD_NAME', name);
    if (i > 0 && sorted[i - 1].name === name) {
      throw new WeightCodecError(`weights: tensor "${name}" given twice`, 'DUPLICATE_NAME', name);
    }
    const shapeProblem = checkShape(shape);
    if (shapeProblem)
      throw new WeightCodecError(`weights: tensor "${name}": ${shapeProblem}`, 'BAD_SHAPE', name);
    if (!(values instanceof Float32Array)) {
      throw new WeightCodecError(
        `weights: tensor "${name}": values must be a Float32Array`,
        'BAD_SHAPE',
        name,
      );
    }
    if (shapeSize(shape) !== values.length) {
      throw new WeightCodecError(
        `weights: tensor "${name}" has ${values.length} values but shape ${describeShape(shape)}`,
        'LENGTH_MISMATCH',
        name,
      );
    }
  }
  return sorted;
}
