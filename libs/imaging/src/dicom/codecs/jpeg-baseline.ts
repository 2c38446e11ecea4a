/** 8-bit lossy JPEG (baseline, process 1) through libjpeg-turbo, built for JavaScript by Cornerstone. */
import libjpegTurbo from '@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs';
import { emscriptenCodec } from './emscripten';

export const JPEG_BASELINE_CODEC = emscriptenCodec({
  name: 'libjpeg-turbo (@cornerstonejs/codec-libjpeg-turbo-8bit)',
  load: libjpegTurbo,
  className: 'JPEGDecoder',
  bitsPerSample: () => 8,
});
