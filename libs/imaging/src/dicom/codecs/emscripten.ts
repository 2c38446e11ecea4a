/**
 * The decoder shape the @cornerstonejs codec packages share (CharLS, OpenJPEG, libjpeg-turbo):
 * copy the encoded bytes into the module's heap, decode, read the frame info and the decoded
 * bytes back, free. Each module is loaded once, on the first frame that needs it, so reading
 * uncompressed series never loads a codec.
 */
import type { FrameCodec } from './codec';

export interface EmscriptenFrameInfo {
  width: number;
  height: number;
  bitsPerSample: number;
  componentCount: number;
  /** OpenJPEG only: the codestream's samples are signed (decoded as two's complement words). */
  isSigned?: boolean;
}

export interface EmscriptenDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  decode(): void;
  getFrameInfo(): EmscriptenFrameInfo;
  getDecodedBuffer(): Uint8Array;
  delete(): void;
}

/** Module settings: where its stdout / stderr go (OpenJPEG reports progress on stdout). */
export interface EmscriptenModuleOptions {
  print?: (text: string) => void;
  printErr?: (text: string) => void;
}

/**
 * Codec chatter is not ours to print: a frame that fails to decode throws and is reported. A new
 * object per module, as Emscripten turns the object it is given into the module itself.
 */
const quiet = (): EmscriptenModuleOptions => ({ print: () => undefined, printErr: () => undefined });

export type EmscriptenCodecModule<Name extends string> = Record<Name, new () => EmscriptenDecoder>;

export interface EmscriptenDecoded {
  info: EmscriptenFrameInfo;
  /** The decoded samples' bytes, copied out of the module's heap (it is reused). */
  bytes: Uint8Array;
}

/** How a package's frame info maps onto a decoded frame where the packages differ. */
export interface EmscriptenCodecSpec<Name extends string> {
  /** The codec and the package, for messages and docs. */
  name: string;
  load: (options: EmscriptenModuleOptions) => Promise<EmscriptenCodecModule<Name>>;
  className: Name;
  /** libjpeg-turbo-8bit reports no useful precision: its samples are always 8-bit. */
  bitsPerSample?: (info: EmscriptenFrameInfo) => number;
}

/** One Cornerstone codec package as a FrameCodec (signed samples only where the codec says so). */
export function emscriptenCodec<Name extends string>(spec: EmscriptenCodecSpec<Name>): FrameCodec {
  const decode = emscriptenDecoder(spec.load, spec.className);
  return {
    name: spec.name,
    async decode(encoded) {
      const { info, bytes } = await decode(encoded);
      return {
        width: info.width,
        height: info.height,
        components: info.componentCount,
        bitsPerSample: spec.bitsPerSample?.(info) ?? info.bitsPerSample,
        signed: info.isSigned === true,
        bytes,
      };
    },
  };
}

/** A lazily loaded module's decoder class → one decode function. */
function emscriptenDecoder<Name extends string>(
  load: (options: EmscriptenModuleOptions) => Promise<EmscriptenCodecModule<Name>>,
  className: Name,
): (encoded: Uint8Array) => Promise<EmscriptenDecoded> {
  let module: Promise<EmscriptenCodecModule<Name>> | undefined;
  return async (encoded) => {
    module ??= load(quiet());
    const decoder = new (await module)[className]();
    try {
      decoder.getEncodedBuffer(encoded.length).set(encoded);
      decoder.decode();
      return { info: decoder.getFrameInfo(), bytes: decoder.getDecodedBuffer().slice() };
    } finally {
      decoder.delete();
    }
  };
}
