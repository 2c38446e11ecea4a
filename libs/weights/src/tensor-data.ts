import { WeightCodecError } from './errors';
import { float16Table, float32BitsToFloat16Bits } from './float16';
import { WeightEncoding } from './format';
import { readFloat32LE, readUint16LE, writeFloat32LE, writeUint16LE } from './little-endian';

/**
 * Per-dtype conversion of one tensor's values to and from its bytes in the buffer. The layout
 * (offsets, lengths) is decided elsewhere; these functions trust the bounds they are given.
 */

/** Symmetric per-tensor scale: the largest magnitude maps to ±127; an all-zero tensor gets 0. */
export function int8Scale(values: Float32Array, name: string): number {
  let maxAbs = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    // One comparison catches NaN (v !== v) and ±Inf (|v| = Inf > every finite maxAbs).
    if (!(Math.abs(v) <= Number.MAX_VALUE)) throw nonFinite(name, i, v, 'int8');
    if (v > maxAbs) maxAbs = v;
    else if (-v > maxAbs) maxAbs = -v;
  }
  return maxAbs / 127;
}

/**
 * Writes the tensor's values at `byteOffset`. int8 needs the scale from `int8Scale`, computed
 * beforehand because the header that carries it precedes the data.
 */
export function writeTensorData(
  values: Float32Array,
  dtype: WeightEncoding,
  target: Uint8Array,
  byteOffset: number,
  name: string,
  scale = 0,
): void {
  switch (dtype) {
    case 'float32':
      // Kept as is, NaN and Inf included: the coordinator's finite check must be able to see them.
      writeFloat32LE(values, target, byteOffset);
      return;
    case 'float16': {
      const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
      const halves = new Uint16Array(values.length);
      for (let i = 0; i < bits.length; i++) {
        const b = bits[i];
        if ((b & 0x7f800000) === 0x7f800000) throw nonFinite(name, i, values[i], 'float16');
        halves[i] = float32BitsToFloat16Bits(b);
      }
      writeUint16LE(halves, target, byteOffset);
      return;
    }
    case 'int8': {
      const quantised = new Int8Array(target.buffer, target.byteOffset + byteOffset, values.length);
      if (scale === 0) {
        quantised.fill(0);
        return;
      }
      for (let i = 0; i < values.length; i++) {
        const x = values[i] / scale;
        // Round half to even, as numpy's rint: a rule a third-party writer reproduces exactly.
        let q = Math.round(x);
        if (q - x === 0.5 && (q & 1) !== 0) q -= 1;
        quantised[i] = q > 127 ? 127 : q < -127 ? -127 : q;
      }
      return;
    }
  }
}

/** Reads a tensor's values back as float32 (dequantising int8, widening float16). */
export function readTensorData(
  source: Uint8Array,
  dtype: WeightEncoding,
  byteOffset: number,
  count: number,
  scale: number | undefined,
): Float32Array {
  switch (dtype) {
    case 'float32':
      return readFloat32LE(source, byteOffset, count);
    case 'float16': {
      const table = float16Table();
      const halves = readUint16LE(source, byteOffset, count);
      const values = new Float32Array(count);
      for (let i = 0; i < count; i++) values[i] = table[halves[i]];
      return values;
    }
    case 'int8': {
      const quantised = new Int8Array(source.buffer, source.byteOffset + byteOffset, count);
      const values = new Float32Array(count);
      const s = scale ?? 0;
      for (let i = 0; i < count; i++) values[i] = quantised[i] * s;
      return values;
    }
  }
}

function nonFinite(name: string, index: number, value: number, dtype: WeightEncoding): WeightCodecError {
  return new WeightCodecError(
    `weights: tensor "${name}" has a non-finite value (${value}) at index ${index}; ` +
      `${dtype} cannot encode it (use float32 to pass it on unchanged)`,
    'NON_FINITE',
    name,
  );
}
