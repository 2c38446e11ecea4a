/**
 * What a frame codec gives back, and how its samples become the stored values the header
 * describes: the codecs deliver unsigned bit patterns of `bitsPerSample` bits (OpenJPEG may say
 * they are signed already); a signed image (PixelRepresentation 1) is sign-extended from that
 * precision, as the JPEG family stores two's complement samples as their bit pattern.
 */
import { DicomFrame } from '../types';

export interface DecodedFrame {
  width: number;
  height: number;
  components: number;
  /** Precision of the samples (the codestream's). */
  bitsPerSample: number;
  /** The codestream says its samples are signed (JPEG 2000); the words are two's complement. */
  signed: boolean;
  /** 1 byte per sample up to 8 bits, else 2 (little-endian words). */
  bytes: Uint8Array;
}

export interface FrameCodec {
  /** The codec and the package that implements it, for messages and docs. */
  name: string;
  decode(encoded: Uint8Array): Promise<DecodedFrame>;
}

export type StoredSamples = Uint8Array | Int8Array | Uint16Array | Int16Array;

/** The decoded frame's samples as stored values of frame `f`, or why they do not fit its header. */
export function storedSamples(d: DecodedFrame, f: DicomFrame): StoredSamples | string {
  if (d.width !== f.columns || d.height !== f.rows)
    return `decodes to ${d.width}×${d.height}, the header says ${f.columns}×${f.rows}`;
  if (d.components !== 1) return `decodes to ${d.components} components; a DCE series is greyscale`;
  const P = d.bitsPerSample;
  if (P < 1 || P > 16 || P > f.bitsAllocated)
    return `decodes to ${P}-bit samples in ${f.bitsAllocated}-bit words`;
  const wide = P > 8;
  const buffer = d.bytes.buffer.slice(d.bytes.byteOffset, d.bytes.byteOffset + d.bytes.byteLength);
  const count = f.rows * f.columns;
  if (d.bytes.byteLength < count * (wide ? 2 : 1)) return 'decodes to fewer samples than the frame holds';
  if (d.signed) return wide ? new Int16Array(buffer, 0, count) : new Int8Array(buffer, 0, count);
  const unsigned = wide ? new Uint16Array(buffer, 0, count) : new Uint8Array(buffer, 0, count);
  if (f.pixelRepresentation !== 1) return unsigned;
  const out = wide ? new Int16Array(count) : new Int8Array(count);
  const shift = 32 - P;
  for (let n = 0; n < count; n++) out[n] = (unsigned[n] << shift) >> shift;
  return out;
}
