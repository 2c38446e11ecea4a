/**
 * The part of the codec packages (no types of their own on npm) that codecs/ uses. The three
 * @cornerstonejs packages are Emscripten builds of CharLS, OpenJPEG and libjpeg-turbo shipped as
 * JavaScript in their npm tarballs: a factory resolving to a module with one decoder class each,
 * sharing the same shape.
 */
declare module '@cornerstonejs/codec-charls' {
  import type { EmscriptenCodecModule, EmscriptenModuleOptions } from './emscripten';
  const factory: (options?: EmscriptenModuleOptions) => Promise<EmscriptenCodecModule<'JpegLSDecoder'>>;
  export default factory;
}
declare module '@cornerstonejs/codec-openjpeg' {
  import type { EmscriptenCodecModule, EmscriptenModuleOptions } from './emscripten';
  const factory: (options?: EmscriptenModuleOptions) => Promise<EmscriptenCodecModule<'J2KDecoder'>>;
  export default factory;
}
declare module '@cornerstonejs/codec-libjpeg-turbo-8bit' {
  import type { EmscriptenCodecModule, EmscriptenModuleOptions } from './emscripten';
  const factory: (options?: EmscriptenModuleOptions) => Promise<EmscriptenCodecModule<'JPEGDecoder'>>;
  export default factory;
}
declare module 'jpeg-lossless-decoder-js' {
  export class Decoder {
    /** The samples, 1 byte each up to 8 bits of precision, else 2. */
    decode(buffer: ArrayBuffer, offset: number, length: number, numBytes?: number): Uint8Array | Uint16Array;
    /** Bits per sample of the frame just decoded (the SOF's precision). */
    precision?: number;
    xDim: number;
    yDim: number;
    numComp: number;
  }
}
