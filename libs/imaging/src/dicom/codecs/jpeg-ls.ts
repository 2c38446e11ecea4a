/** JPEG-LS (lossless and near-lossless) through CharLS, built for JavaScript by Cornerstone. */
import charls from '@cornerstonejs/codec-charls/decodewasmjs';
import { FrameCodec } from './codec';
import { emscriptenDecoder } from './emscripten';

const decode = emscriptenDecoder(charls, 'JpegLSDecoder');

export const JPEG_LS_CODEC: FrameCodec = {
  name: 'CharLS (@cornerstonejs/codec-charls)',
  async decode(encoded) {
    const { info, bytes } = await decode(encoded);
    return {
      width: info.width,
      height: info.height,
      components: info.componentCount,
      bitsPerSample: info.bitsPerSample,
      signed: false,
      bytes,
    };
  },
};
