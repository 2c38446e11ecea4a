/**
 * Tiny 32×32, 2-stage, 2-phase network for tests: the shapes and rules of the full model at about
 * 1/50 of the cost, so every spec can train a few steps in seconds on 2 cores.
 */
export const TINY = {
  imageSize: 32,
  patchSize: 4,
  phases: 2,
  dims: [8, 16],
  depths: [1, 1],
  kernelSize: 3,
  decoderDim: 16,
  tokenDim: 16,
  heads: 2,
  classifierHidden: 8,
};
