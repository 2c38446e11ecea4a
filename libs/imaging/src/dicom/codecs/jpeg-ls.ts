/** JPEG-LS (lossless and near-lossless) through CharLS, built for JavaScript by Cornerstone. */
import charls from '@cornerstonejs/codec-charls/decodewasmjs';
import { emscriptenCodec } from './emscripten';

// CharLS reports no sign (isSigned absent): signed series are sign-extended from the header.
export const JPEG_LS_CODEC = emscriptenCodec({
  name: 'CharLS (@cornerstonejs/codec-charls)',
  load: charls,
  className: 'JpegLSDecoder',
});
