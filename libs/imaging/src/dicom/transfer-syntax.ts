/**
 * Transfer syntaxes: which pixel encodings we read (uncompressed here, compressed through the
 * codec registry) and, for the others, their names so the refusal says what the file holds; such
 * a series can be decompressed first (`gdcmconv --raw`, `dcmdrle`, dcm2niix all do it).
 */
import { InputError } from '../../../common/src';
import { codecFor } from './codecs/registry';

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

/** Pixels we can turn into values: uncompressed, or compressed with a registered codec. */
export function isReadableTransferSyntax(uid: string): boolean {
  return isNativeTransferSyntax(uid) || codecFor(uid) !== undefined;
}

/** The refusal for a file whose pixels we cannot decode. */
export function unsupportedTransferSyntax(file: string, uid: string): InputError {
  return new InputError(
    `${file}: pixel data in ${transferSyntaxName(uid)} (${uid}) is not decoded ` +
      `(read: uncompressed, JPEG lossless, JPEG-LS, JPEG 2000, 8-bit JPEG baseline); ` +
      `decompress the series first (e.g. gdcmconv --raw) or convert it with dcm2niix`,
    'DICOM_UNSUPPORTED_TRANSFER_SYNTAX',
  );
}
