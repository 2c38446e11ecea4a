/**
 * The buffer format is little-endian whatever the host. On little-endian hosts (x86, ARM as
 * deployed) float32 and uint16 data move with one memcpy; elsewhere value by value through
 * DataView. Both paths are exported with an explicit `hostLittleEndian` flag so tests run the
 * DataView path on any machine.
 */

export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Writes `values` as float32 LE into `target` starting at `byteOffset`. */
export function writeFloat32LE(
  values: Float32Array,
  target: Uint8Array,
  byteOffset: number,
  hostLittleEndian = HOST_LITTLE_ENDIAN,
): void {
  if (hostLittleEndian) {
    target.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), byteOffset);
    return;
  }
  const view = new DataView(target.buffer, target.byteOffset + byteOffset, values.length * 4);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
}

/** Reads `count` float32 LE values from `source` at `byteOffset` into a new (aligned) array. */
export function readFloat32LE(
  source: Uint8Array,
  byteOffset: number,
  count: number,
  hostLittleEndian = HOST_LITTLE_ENDIAN,
): Float32Array {
  const values = new Float32Array(count);
  if (hostLittleEndian) {
    // Copy the bytes: the source may sit at an offset that a Float32Array view cannot start at.
    new Uint8Array(values.buffer).set(source.subarray(byteOffset, byteOffset + count * 4));
    return values;
  }
  const view = new DataView(source.buffer, source.byteOffset + byteOffset, count * 4);
  for (let i = 0; i < count; i++) values[i] = view.getFloat32(i * 4, true);
  return values;
}

/** Writes `values` as uint16 LE into `target` starting at `byteOffset`. */
export function writeUint16LE(
  values: Uint16Array,
  target: Uint8Array,
  byteOffset: number,
  hostLittleEndian = HOST_LITTLE_ENDIAN,
): void {
  if (hostLittleEndian) {
    target.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), byteOffset);
    return;
  }
  const view = new DataView(target.buffer, target.byteOffset + byteOffset, values.length * 2);
  for (let i = 0; i < values.length; i++) view.setUint16(i * 2, values[i], true);
}

/** Reads `count` uint16 LE values from `source` at `byteOffset` into a new (aligned) array. */
export function readUint16LE(
  source: Uint8Array,
  byteOffset: number,
  count: number,
  hostLittleEndian = HOST_LITTLE_ENDIAN,
): Uint16Array {
  const values = new Uint16Array(count);
  if (hostLittleEndian) {
    new Uint8Array(values.buffer).set(source.subarray(byteOffset, byteOffset + count * 2));
    return values;
  }
  const view = new DataView(source.buffer, source.byteOffset + byteOffset, count * 2);
  for (let i = 0; i < count; i++) values[i] = view.getUint16(i * 2, true);
  return values;
}
