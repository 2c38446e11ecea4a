/**
 * One file's PixelData → the stored samples of the frames a volume needs: read in place when
 * uncompressed, decoded by the transfer syntax's codec when encapsulated. Any frame that cannot be
 * had is one InputError naming the file and frame.
 */
import { InputError } from '../../../common/src';
import { storedSamples } from './codecs/codec';
import { encodedFrames } from './codecs/encapsulated';
import { codecFor } from './codecs/registry';
import { frameSuffix } from './geometry';
import { nativeSamples, pixelBytes, SampleArray } from './pixels';
import { transferSyntaxName } from './transfer-syntax';
import { DicomFrame } from './types';

function frameError(f: DicomFrame, reason: string): InputError {
  return new InputError(`${f.file}${frameSuffix(f)}: ${reason}`, 'BAD_DICOM');
}

/** Stored samples of each of `frames` (all from one file whose PixelData value is `value`), in order. */
export async function samplesOfFrames(value: unknown, frames: DicomFrame[]): Promise<SampleArray[]> {
  if (frames.length === 0) return [];
  const syntax = frames[0].transferSyntaxUid;
  const codec = codecFor(syntax);
  if (!codec) {
    const bytes = pixelBytes(value);
    return frames.map((f) => {
      const samples = bytes && nativeSamples(f, bytes);
      if (!samples) throw frameError(f, `pixel data missing or shorter than ${f.columns}×${f.rows} samples`);
      return samples;
    });
  }
  const encoded = encodedFrames(value, frames[0].framesInFile);
  const out: SampleArray[] = [];
  for (const f of frames) {
    if (typeof encoded === 'string')
      throw frameError(f, `${transferSyntaxName(syntax)} pixel data: ${encoded}`);
    const bytes = encoded[f.frame];
    if (!bytes) throw frameError(f, `no encoded frame ${f.frame + 1} (${encoded.length} in the file)`);
    let decoded;
    try {
      decoded = await codec.decode(bytes);
    } catch (err) {
      const why = err instanceof Error ? err.message : 'the codec rejected the codestream';
      throw frameError(f, `${transferSyntaxName(syntax)} frame does not decode with ${codec.name} (${why})`);
    }
    const samples = storedSamples(decoded, f);
    if (typeof samples === 'string') throw frameError(f, `${transferSyntaxName(syntax)} frame ${samples}`);
    out.push(samples);
  }
  return out;
}
