/**
 * The part of the codec packages (no types of their own on npm) that codecs/ uses. The three
 * @cornerstonejs packages are Emscripten builds of CharLS, OpenJPEG and libjpeg-turbo shipped in
 * their npm tarballs: a factory resolving to a module with one decoder class each, sharing the
 * same shape. We load their decode-only WebAssembly builds (`/decodewasmjs`, the .wasm beside
 * it): the packages' default asm.js builds decode JPEG 2000 about 5× slower.
 */
declare module '@cornerstonejs/codec-charls/decodewasmjs' {
  import type { EmscriptenCodecModule, EmscriptenModuleOptions } from './emscripten';
  const factory: (options?: EmscriptenModuleOptions) => Promise<EmscriptenCodecModule<'JpegLSDecoder'>>;
  export default factory;
}
declare module '@cornerstonejs/codec-openjpeg/decodewasmjs' {
  import type { EmscriptenCodecModule, EmscriptenModuleOptions } from './emscripten';
  const factory: (options?: EmscriptenModuleOptions) => Promise<EmscriptenCodecModule<'J2KDecoder'>>;
  export default factory;
}
declare module '@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs' {
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
