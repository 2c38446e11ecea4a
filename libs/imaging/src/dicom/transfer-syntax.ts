/**
 * Transfer syntaxes: which pixel encodings we decode and, for the others, their names so the
 * refusal says what the file holds. No codec package for JPEG-LS / JPEG 2000 / JPEG lossless is
 * used yet (see docs/IMAGING.md): a compressed series is refused with its syntax named, and can be
 * decompressed first (`dcmdjpeg`, `gdcmconv --raw`, `dcm2niix` all do it).
 */
import { InputError } from '../../../common/src';

/** Uncompressed syntaxes whose pixels are plain little-endian words (deflate is undone by dcmjs). */
export const NATIVE_TRANSFER_SYNTAXES: Readonly<Record<string, string>> = {
  '1.2.840.10008.1.2': 'Implicit VR Little Endian',
  '1.2.840.10008.1.2.1': 'Explicit VR Little Endian',
  '1.2.840.10008.1.2.1.99': 'Deflated Explicit VR Little Endian',
};

const OTHER_TRANSFER_SYNTAXES: Readonly<Record<string, string>> = {
  '1.2.840.10008.1.2.2': 'Explicit VR Big Endian (retired)',
  '1.2.840.10008.1.2.4.50': 'JPEG Baseline (Process 1)',
  '1.2.840.10008.1.2.4.51': 'JPEG Extended (Process 2 & 4)',
  '1.2.840.10008.1.2.4.57': 'JPEG Lossless, Non-Hierarchical (Process 14)',
  '1.2.840.10008.1.2.4.70': 'JPEG Lossless, First-Order Prediction (Process 14, SV1)',
  '1.2.840.10008.1.2.4.80': 'JPEG-LS Lossless',
  '1.2.840.10008.1.2.4.81': 'JPEG-LS Near-Lossless',
  '1.2.840.10008.1.2.4.90': 'JPEG 2000 (Lossless Only)',
  '1.2.840.10008.1.2.4.91': 'JPEG 2000',
  '1.2.840.10008.1.2.4.201': 'High-Throughput JPEG 2000 (Lossless Only)',
  '1.2.840.10008.1.2.4.202': 'High-Throughput JPEG 2000 with RPCL (Lossless Only)',
  '1.2.840.10008.1.2.4.203': 'High-Throughput JPEG 2000',
  '1.2.840.10008.1.2.5': 'RLE Lossless',
  '1.2.840.10008.1.2.4.100': 'MPEG2 Main Profile',
  '1.2.840.10008.1.2.4.102': 'MPEG-4 AVC/H.264',
  '1.2.840.10008.1.2.4.107': 'HEVC/H.265',
};

export function transferSyntaxName(uid: string): string {
  return NATIVE_TRANSFER_SYNTAXES[uid] ?? OTHER_TRANSFER_SYNTAXES[uid] ?? `unknown transfer syntax ${uid}`;
}

export function isNativeTransferSyntax(uid: string): boolean {
  return uid in NATIVE_TRANSFER_SYNTAXES;
}

/** The refusal for a file whose pixels we cannot decode. */
export function unsupportedTransferSyntax(file: string, uid: string): InputError {
  return new InputError(
    `${file}: pixel data in ${transferSyntaxName(uid)} (${uid}) is not decoded; ` +
      `decompress the series first (e.g. gdcmconv --raw or dcmdjpeg) or convert it with dcm2niix`,
    'DICOM_UNSUPPORTED_TRANSFER_SYNTAX',
  );
}
