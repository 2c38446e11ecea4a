/** JPEG 2000 (lossless and lossy) through OpenJPEG, built for JavaScript by Cornerstone. */
import openjpeg from '@cornerstonejs/codec-openjpeg/decodewasmjs';
import { emscriptenCodec } from './emscripten';

export const JPEG_2000_CODEC = emscriptenCodec({
  name: 'OpenJPEG (@cornerstonejs/codec-openjpeg)',
  load: openjpeg,
  className: 'J2KDecoder',
});
