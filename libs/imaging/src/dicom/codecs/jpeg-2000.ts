/** JPEG 2000 (lossless and lossy) through OpenJPEG, built for JavaScript by Cornerstone. */
import openjpeg from '@cornerstonejs/codec-openjpeg/decodewasmjs';
import { FrameCodec } from './codec';
import { emscriptenDecoder } from './emscripten';

const decode = emscriptenDecoder(openjpeg, 'J2KDecoder');

export const JPEG_2000_CODEC: FrameCodec = {
  name: 'OpenJPEG (@cornerstonejs/codec-openjpeg)',
  async decode(encoded) {
    const { info, bytes } = await decode(encoded);
    return {
      width: info.width,
      height: info.height,
      components: info.componentCount,
      bitsPerSample: info.bitsPerSample,
      signed: info.isSigned === true,
      bytes,
    };
  },
};
