/** JPEG lossless (process 14, any predictor, SV1 included) through jpeg-lossless-decoder-js (pure JavaScript). */
import { Decoder } from 'jpeg-lossless-decoder-js';
import { FrameCodec } from './codec';

export const JPEG_LOSSLESS_CODEC: FrameCodec = {
  name: 'jpeg-lossless-decoder-js',
  decode(encoded) {
    const decoder = new Decoder();
    const out = decoder.decode(encoded.buffer as ArrayBuffer, encoded.byteOffset, encoded.byteLength);
    const bitsPerSample = decoder.precision ?? 16;
    return Promise.resolve({
      width: decoder.xDim,
      height: decoder.yDim,
      components: decoder.numComp,
      bitsPerSample,
      signed: false,
      bytes: new Uint8Array(out.buffer, out.byteOffset, out.byteLength),
    });
  },
};
