/**
 * Encapsulated (compressed) PixelData as dcmjs delivers it → one encoded byte string per frame
 * (PS3.5 A.4). With a Basic Offset Table dcmjs already groups the fragments by frame; without
 * one it hands over the fragments, which are one frame each when their count is the number of
 * frames, all one frame in a single-frame file, and otherwise grouped at each fragment that opens
 * a codestream (JPEG / JPEG-LS SOI, JPEG 2000 SOC or JP2 signature), as the standard allows a
 * frame to span fragments but never a fragment to span frames.
 */
import { pixelBytes } from '../pixels';

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  return pixelBytes(parts)!;
}

function asBytes(part: unknown): Uint8Array | undefined {
  return Array.isArray(part) ? pixelBytes(part) : pixelBytes([part]);
}

/** Does this fragment begin a codestream? */
export function opensCodestream(b: Uint8Array): boolean {
  if (b.length < 2 || b[0] !== 0xff) return b.length >= 8 && b[4] === 0x6a && b[5] === 0x50; // 'jP' box
  return b[1] === 0xd8 /* JPEG SOI */ || b[1] === 0x4f; /* JPEG 2000 SOC */
}

/** The encoded frames of a file, or a sentence saying why they cannot be told apart. */
export function encodedFrames(value: unknown, framesInFile: number): Uint8Array[] | string {
  const entries = Array.isArray(value) ? value : [value];
  const parts = entries.map(asBytes);
  if (parts.some((p) => p === undefined) || parts.length === 0) return 'no encapsulated pixel data';
  const fragments = parts as Uint8Array[];
  if (fragments.length === framesInFile) return fragments;
  if (framesInFile === 1) return [concat(fragments)];
  const frames: Uint8Array[][] = [];
  for (const fragment of fragments) {
    if (frames.length === 0 || opensCodestream(fragment)) frames.push([fragment]);
    else frames[frames.length - 1].push(fragment);
  }
  if (frames.length !== framesInFile)
    return `${fragments.length} fragments could not be split into ${framesInFile} frames`;
  return frames.map(concat);
}
