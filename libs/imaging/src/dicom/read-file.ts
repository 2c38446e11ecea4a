/**
 * One DICOM Part 10 file through dcmjs: its header as frames (images) or as a mask object (SEG,
 * RTSTRUCT), and, on request, its pixel data. Reading the header alone stops parsing before the
 * pixel data, so scanning a large export costs little more than reading its bytes.
 */
import { readFile } from 'node:fs/promises';
import dcmjs, { NaturalDataset } from 'dcmjs';
import { InputError } from '../../../common/src';
import { framesOfDataset, maskObjectOfDataset } from './header';
import { DicomFrame, DicomMaskObject } from './types';

// dcmjs logs recoverable oddities through loglevel; our errors say what matters.
dcmjs.log.setLevel('error');

const PIXEL_DATA_TAG = '7FE00010';

export type DicomFileContent =
  | { kind: 'image'; frames: DicomFrame[] }
  | { kind: 'mask'; mask: DicomMaskObject }
  | { kind: 'other'; sopClassUid: string };

/** Bytes 128..131 are "DICM" in every Part 10 file; anything else is not ours to read. */
export function isDicomPart10(bytes: Uint8Array): boolean {
  return (
    bytes.length >= 132 &&
    bytes[128] === 0x44 &&
    bytes[129] === 0x49 &&
    bytes[130] === 0x43 &&
    bytes[131] === 0x4d
  );
}

export class DicomReadError extends InputError {
  constructor(file: string, reason: string, code = 'BAD_DICOM') {
    super(`${file}: ${reason}`, code);
  }
}

export interface ParsedDicom {
  dataset: NaturalDataset;
  transferSyntaxUid: string;
}

/** The file's bytes as the ArrayBuffer dcmjs wants, copied only when they are a view into a larger one. */
function wholeBuffer(bytes: Uint8Array): ArrayBuffer {
  if (
    bytes.byteOffset === 0 &&
    bytes.byteLength === bytes.buffer.byteLength &&
    bytes.buffer instanceof ArrayBuffer
  ) {
    return bytes.buffer;
  }
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

function readDict(bytes: Uint8Array, file: string, withPixels: boolean) {
  if (!isDicomPart10(bytes))
    throw new DicomReadError(file, 'not a DICOM Part 10 file (no "DICM" at byte 128)');
  try {
    return dcmjs.data.DicomMessage.readFile(wholeBuffer(bytes), {
      ignoreErrors: false,
      untilTag: withPixels ? null : PIXEL_DATA_TAG,
      includeUntilTagValue: false,
      noCopy: true,
    });
  } catch (err) {
    throw new DicomReadError(file, `unreadable DICOM (${(err as Error).message})`);
  }
}

/** Parses a Part 10 file held in memory; `withPixels` false stops before the pixel data. */
export function parseDicom(bytes: Uint8Array, file: string, withPixels: boolean): ParsedDicom {
  const dict = readDict(bytes, file, withPixels);
  const syntax = dict.meta['00020010']?.Value?.[0];
  let dataset: NaturalDataset;
  try {
    dataset = dcmjs.data.DicomMetaDictionary.naturalizeDataset(dict.dict);
  } catch (err) {
    throw new DicomReadError(file, `unreadable DICOM (${(err as Error).message})`);
  }
  if (!withPixels) delete dataset.PixelData;
  return { dataset, transferSyntaxUid: typeof syntax === 'string' ? syntax.trim() : '' };
}

/**
 * Only the PixelData element's value (what reading a planned volume needs): skips turning the
 * whole dataset into keyword form, which costs more than the parse itself.
 */
export function parseDicomPixelData(bytes: Uint8Array, file: string): unknown {
  return readDict(bytes, file, true).dict[PIXEL_DATA_TAG]?.Value;
}

/** What one file holds, from its header. */
export function describeDicom(parsed: ParsedDicom, file: string): DicomFileContent {
  const mask = maskObjectOfDataset(parsed.dataset, file);
  if (mask) return { kind: 'mask', mask };
  const frames = framesOfDataset(parsed.dataset, file, parsed.transferSyntaxUid);
  if (frames.length) return { kind: 'image', frames };
  return { kind: 'other', sopClassUid: String(parsed.dataset.SOPClassUID ?? '') };
}

export async function readDicomBytes(file: string): Promise<Uint8Array> {
  try {
    return await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DicomReadError(
      file,
      `cannot read file (${code ?? String(err)})`,
      code === 'ENOENT' ? 'DICOM_NOT_FOUND' : 'DICOM_UNREADABLE',
    );
  }
}
