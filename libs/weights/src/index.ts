// The tfjs-free part of the weight codec: format, encode/decode, digest, array arithmetic.
export * from './arrays';
export { WeightCodecError, type WeightCodecErrorCode } from './errors';
export { encodeWeights, type EncodingChoice } from './encode';
export { decodeWeights, type DecodeExpectation } from './decode';
export { weightsDigest } from './digest';
export { readWeightsHeader, type ReadHeaderOptions } from './header';
export { FLOAT16_MAX, roundToFloat16 } from './float16';
// For readers that decode only some tensors of a buffer (e.g. zero-copy float32 views).
export { readTensorData } from './tensor-data';
export { HOST_LITTLE_ENDIAN } from './little-endian';
export {
  type NamedArray,
  type WeightEncoding,
  WEIGHT_ENCODINGS,
  type WeightsHeader,
  type WeightsTensorEntry,
  WEIGHTS_FORMAT_VERSION,
  WEIGHTS_MAGIC,
  MAX_NAME_LENGTH,
  MAX_RANK,
} from './format';
