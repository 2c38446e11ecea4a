/** Whether a manifest path names DICOM (a folder, or a Part 10 file) rather than a NIfTI file. */
import { open, stat } from 'node:fs/promises';
import { isDicomPart10 } from './read-file';

export async function isDicomSource(path: string): Promise<boolean> {
  let stats;
  try {
    stats = await stat(path);
  } catch {
    return false; // missing: the NIfTI reader reports it with its usual message
  }
  if (stats.isDirectory()) return true;
  if (!stats.isFile() || stats.size < 132) return false;
  const handle = await open(path, 'r');
  try {
    const head = new Uint8Array(132);
    await handle.read(head, 0, 132, 0);
    return isDicomPart10(head);
  } finally {
    await handle.close();
  }
}
