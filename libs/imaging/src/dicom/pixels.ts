/**
 * Pixel data of one frame → scaled float32 values at their place in a volume, rows stored
 * bottom-up (the dcm2niix "flip Y" of geometry.ts). Pure; compressed frames are decoded into
 * stored samples first (codecs/).
 */
import { DicomFrame } from './types';

/** The pixel layouts we decode: one sample of 8, 16 or 32 bits, signed or not. */
export function pixelLayoutProblem(f: DicomFrame): string | undefined {
  if (f.samplesPerPixel !== 1)
    return `${f.samplesPerPixel} samples per pixel (colour); a DCE series is greyscale`;
  if (![8, 16, 32].includes(f.bitsAllocated)) return `BitsAllocated ${f.bitsAllocated} (readable: 8, 16, 32)`;
  return undefined;
}

/** numpy-style name of the stored sample type, as `inspect` reports it. */
export function storedTypeName(f: Pick<DicomFrame, 'bitsAllocated' | 'pixelRepresentation'>): string {
  return `${f.pixelRepresentation === 1 ? 'int' : 'uint'}${f.bitsAllocated}`;
}

/** One contiguous byte view of PixelData as dcmjs delivers it (one or more ArrayBuffers). */
export function pixelBytes(pixelData: unknown): Uint8Array | undefined {
  const parts = (Array.isArray(pixelData) ? pixelData : [pixelData]).filter(
    (p): p is ArrayBuffer | ArrayBufferView => p instanceof ArrayBuffer || ArrayBuffer.isView(p),
  );
  const views = parts.map((p) =>
    p instanceof ArrayBuffer ? new Uint8Array(p) : new Uint8Array(p.buffer, p.byteOffset, p.byteLength),
  );
  if (views.length === 0) return undefined;
  if (views.length === 1) return views[0];
  const out = new Uint8Array(views.reduce((n, v) => n + v.length, 0));
  let at = 0;
  for (const v of views) {
    out.set(v, at);
    at += v.length;
  }
  return out;
}

/**
 * The stored samples of frame `f` in uncompressed pixel data (`bytes`, the file's whole
 * PixelData), or undefined when the data is too short to hold the frame.
 */
export function nativeSamples(f: DicomFrame, bytes: Uint8Array): SampleArray | undefined {
  const perFrame = f.rows * f.columns;
  const bytesPerSample = f.bitsAllocated / 8;
  const start = bytes.byteOffset + f.frame * perFrame * bytesPerSample;
  if ((f.frame + 1) * perFrame * bytesPerSample > bytes.byteLength) return undefined;
  // Odd offsets (an odd-length element before PixelData in a shared buffer) are copied first.
  const aligned = start % bytesPerSample === 0;
  const source = aligned
    ? bytes.buffer
    : bytes.slice(start - bytes.byteOffset, start - bytes.byteOffset + perFrame * bytesPerSample).buffer;
  return sampleView(source, aligned ? start : 0, perFrame, bytesPerSample, f.pixelRepresentation === 1);
}

/**
 * Writes frame `f`'s stored `samples` into `out` at `offset`, as stored × slope + intercept,
 * DICOM row r going to volume row Rows − 1 − r.
 */
export function placeFrame(f: DicomFrame, samples: SampleArray, out: Float32Array, offset: number): void {
  const { rows, columns, slope, intercept } = f;
  // Row by row: TypedArray.set converts the integer samples to float32 natively; rescaling is
  // then one multiply-add pass over float32 only (monomorphic, so V8 keeps it tight).
  const scaled = slope !== 1 || intercept !== 0;
  for (let r = 0; r < rows; r++) {
    const dst = offset + (rows - 1 - r) * columns;
    out.set(samples.subarray(r * columns, (r + 1) * columns), dst);
    if (scaled) for (let c = dst; c < dst + columns; c++) out[c] = out[c] * slope + intercept;
  }
}

export type SampleArray = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array;

function sampleView(
  buffer: ArrayBufferLike,
  byteOffset: number,
  count: number,
  bytes: number,
  signed: boolean,
): SampleArray {
  if (bytes === 1)
    return signed ? new Int8Array(buffer, byteOffset, count) : new Uint8Array(buffer, byteOffset, count);
  if (bytes === 2)
    return signed ? new Int16Array(buffer, byteOffset, count) : new Uint16Array(buffer, byteOffset, count);
  return signed ? new Int32Array(buffer, byteOffset, count) : new Uint32Array(buffer, byteOffset, count);
}
