/**
 * Which codec decodes which compressed transfer syntax: one registry, one codec per file beside
 * it. Syntaxes not listed here (RLE, 12-bit JPEG, High-Throughput JPEG 2000, video, big endian)
 * are refused by name (transfer-syntax.ts).
 */
import { FrameCodec } from './codec';
import { JPEG_2000_CODEC } from './jpeg-2000';
import { JPEG_BASELINE_CODEC } from './jpeg-baseline';
import { JPEG_LOSSLESS_CODEC } from './jpeg-lossless';
import { JPEG_LS_CODEC } from './jpeg-ls';

export const CODEC_BY_TRANSFER_SYNTAX: Readonly<Record<string, FrameCodec>> = {
  '1.2.840.10008.1.2.4.50': JPEG_BASELINE_CODEC,
  '1.2.840.10008.1.2.4.57': JPEG_LOSSLESS_CODEC,
  '1.2.840.10008.1.2.4.70': JPEG_LOSSLESS_CODEC,
  '1.2.840.10008.1.2.4.80': JPEG_LS_CODEC,
  '1.2.840.10008.1.2.4.81': JPEG_LS_CODEC,
  '1.2.840.10008.1.2.4.90': JPEG_2000_CODEC,
  '1.2.840.10008.1.2.4.91': JPEG_2000_CODEC,
};

export function codecFor(transferSyntaxUid: string): FrameCodec | undefined {
  return CODEC_BY_TRANSFER_SYNTAX[transferSyntaxUid];
}
