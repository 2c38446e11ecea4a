/** 8-bit lossy JPEG (baseline, process 1) through libjpeg-turbo, built for JavaScript by Cornerstone. */
import libjpegTurbo from '@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs';
import { FrameCodec } from './codec';
import { emscriptenDecoder } from './emscripten';

const decode = emscriptenDecoder(libjpegTurbo, 'JPEGDecoder');

export const JPEG_BASELINE_CODEC: FrameCodec = {
  name: 'libjpeg-turbo (@cornerstonejs/codec-libjpeg-turbo-8bit)',
  async decode(encoded) {
    const { info, bytes } = await decode(encoded);
    return {
      width: info.width,
      height: info.height,
      components: info.componentCount,
      bitsPerSample: 8,
      signed: false,
      bytes,
    };
  },
};
