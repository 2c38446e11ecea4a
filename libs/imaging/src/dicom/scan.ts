/**
 * A folder (any file names, any order, nested) or a single file → the image frames and mask
 * objects its DICOM files hold. Files that are not DICOM Part 10 (notes, DICOMDIR's siblings,
 * thumbnails) are listed as ignored; DICOM files that fail to parse are listed as problems, for
 * the caller to decide (reading a DCE refuses them; `cohort build` reports them and goes on).
 */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describeDicom, DicomReadError, isDicomPart10, parseDicom, readDicomBytes } from './read-file';
import { DicomFrame, DicomMaskObject } from './types';

export interface DicomScan {
  frames: DicomFrame[];
  masks: DicomMaskObject[];
  /** Files that are not DICOM Part 10, or DICOM objects that are neither images nor masks. */
  ignored: Array<{ file: string; reason: string }>;
  /** DICOM files that could not be parsed. */
  problems: Array<{ file: string; reason: string }>;
  files: number;
}

export interface ScanOptions {
  /** Files read at once (default 8: enough to keep the disk busy, few buffers held). */
  concurrency?: number;
  /** Refuse folders with more files than this (default 500 000), before reading any. */
  maxFiles?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Every regular file under `path` (or `path` itself), sorted; symbolic links are not followed. */
export async function listFiles(path: string, maxFiles = 500_000): Promise<string[]> {
  let stats;
  try {
    stats = await lstat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DicomReadError(
      path,
      `cannot read (${code ?? String(err)})`,
      code === 'ENOENT' ? 'DICOM_NOT_FOUND' : 'DICOM_UNREADABLE',
    );
  }
  if (stats.isFile()) return [path];
  const out: string[] = [];
  const pending = [path];
  while (pending.length) {
    const dir = pending.pop()!;
    const entries = await readdir(dir, { withFileTypes: true });
    for (const entry of entries) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) pending.push(full);
      else if (entry.isFile()) out.push(full);
      if (out.length > maxFiles) {
        throw new DicomReadError(
          path,
          `holds more than ${maxFiles} files; point at one study or raise the limit`,
          'DICOM_TOO_MANY_FILES',
        );
      }
    }
  }
  return out.sort();
}

export async function scanDicom(path: string, options: ScanOptions = {}): Promise<DicomScan> {
  const files = await listFiles(path, options.maxFiles);
  const scan: DicomScan = { frames: [], masks: [], ignored: [], problems: [], files: files.length };
  const results = new Array<(() => void) | undefined>(files.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < files.length) {
      const index = next++;
      const file = files[index];
      results[index] = await scanOne(file, scan);
      options.onProgress?.(++done, files.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 8) }, worker));
  // Applied in file order so the scan does not depend on which read finished first.
  for (const apply of results) apply?.();
  return scan;
}

async function scanOne(file: string, scan: DicomScan): Promise<() => void> {
  let bytes: Uint8Array;
  try {
    bytes = await readDicomBytes(file);
  } catch (err) {
    return () => scan.problems.push({ file, reason: (err as Error).message });
  }
  if (!isDicomPart10(bytes)) return () => scan.ignored.push({ file, reason: 'not a DICOM Part 10 file' });
  try {
    const content = describeDicom(parseDicom(bytes, file, false), file);
    if (content.kind === 'image') return () => scan.frames.push(...content.frames);
    if (content.kind === 'mask') return () => scan.masks.push(content.mask);
    return () =>
      scan.ignored.push({ file, reason: `not an image (SOP class ${content.sopClassUid || 'none'})` });
  } catch (err) {
    return () => scan.problems.push({ file, reason: (err as Error).message });
  }
}
