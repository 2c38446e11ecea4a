import { InputError } from '../../../common/src';

/**
 * Shape of the pHCC-SSL network. Everything that changes a tensor shape lives here, so that two
 * sites built from the same config produce weights with identical names and shapes (the
 * precondition for federated averaging).
 */
export interface ModelConfig {
  /** Side of the square ROI crop, in pixels. */
  imageSize: number;
  /** Channels per phase image: intensity slices followed by the tumour-mask channel. */
  inChannels: number;
  /** How many leading channels are intensities (the SSL reconstruction target). */
  intensityChannels: number;
  /** Index of the tumour-mask channel, or -1 if the input carries none. */
  maskChannel: number;
  /** Number of DCE phases per patient. */
  phases: number;
  /** Stride of the patchify stem (kernel = stride). */
  stemStride: number;
  /** Channels per encoder stage. */
  dims: number[];
  /** ConvNeXt blocks per encoder stage. */
  depths: number[];
  /** Depthwise kernel size in every block. */
  kernelSize: number;
  /** Hidden width of each block's pointwise MLP as a multiple of its channels. */
  mlpRatio: number;
  /** SSL mask patch side in input pixels; the encoder's total stride must equal it. */
  patchSize: number;
  /** Fraction of patches masked in SSL. */
  maskRatio: number;
  /** Width and depth of the light FCMAE decoder. */
  decoderDim: number;
  decoderDepth: number;
  /** Token width, heads, layers and MLP ratio of the temporal self-attention head. */
  tokenDim: number;
  heads: number;
  attnLayers: number;
  attnMlpRatio: number;
  /** Hidden width of the classification MLP. */
  classifierHidden: number;
  /**
   * How each phase's feature map becomes its token: `regions` pools the tumour, its rim and the
   * whole crop separately (weights from the mask channel); `global` averages the whole crop.
   * docs/MODEL.md says why `regions` is the default.
   */
  tokenPooling: TokenPooling;
}

export type TokenPooling = 'global' | 'regions';

/** Pooled regions per token: tumour, peritumoural rim, whole crop — or the whole crop alone. */
export function poolingRegions(config: Pick<ModelConfig, 'tokenPooling'>): number {
  return config.tokenPooling === 'regions' ? 3 : 1;
}

/** The full-size model (64×64 crops, 4 stages 32→256, total stride 8 = SSL patch size). */
export const DEFAULT_MODEL_CONFIG: Readonly<ModelConfig> = Object.freeze({
  imageSize: 64,
  inChannels: 4,
  intensityChannels: 3,
  maskChannel: 3,
  phases: 6,
  stemStride: 2,
  dims: [32, 64, 128, 256],
  depths: [1, 1, 2, 1],
  // 5×5 and ×2 rather than ConvNeXt's 7×7 and ×4: 1.5× faster steps on 2 cores (docs/MODEL.md);
  // on the 8×8 and 16×16 stages a 5×5 kernel already spans most of the map.
  kernelSize: 5,
  mlpRatio: 2,
  patchSize: 8,
  maskRatio: 0.6,
  decoderDim: 128,
  decoderDepth: 1,
  tokenDim: 128,
  heads: 4,
  attnLayers: 1,
  attnMlpRatio: 2,
  classifierHidden: 64,
  tokenPooling: 'regions',
});

/**
 * `--tiny`: overrides for a model small enough for smoke runs, demos and tests (32×32 crops, two
 * narrow stages; total stride 4 = patch size, as stageLayout requires). Not for real training.
 */
export const TINY_MODEL: Readonly<Partial<ModelConfig>> = Object.freeze({
  imageSize: 32,
  patchSize: 4,
  dims: [8, 16],
  depths: [1, 1],
  kernelSize: 3,
  decoderDim: 16,
  tokenDim: 16,
  heads: 2,
  classifierHidden: 8,
});

export function modelConfig(overrides: Partial<ModelConfig> = {}): ModelConfig {
  const config: ModelConfig = {
    ...DEFAULT_MODEL_CONFIG,
    dims: [...DEFAULT_MODEL_CONFIG.dims],
    depths: [...DEFAULT_MODEL_CONFIG.depths],
    ...overrides,
  };
  validateModelConfig(config);
  return config;
}

/** Per stage: the stride (relative to the input) at which it runs and whether it downsamples. */
export interface StageLayout {
  stride: number;
  downsample: boolean;
  dim: number;
  depth: number;
}

/**
 * Stages after the first halve the resolution until the total stride reaches the patch size;
 * later stages stay at that resolution (a 1×1 channel transition instead). This keeps the last
 * feature map exactly on the SSL patch grid, so the decoder predicts one patch per position.
 */
export function stageLayout(config: ModelConfig): StageLayout[] {
  const layout: StageLayout[] = [];
  let stride = config.stemStride;
  config.dims.forEach((dim, i) => {
    const downsample = i > 0 && stride < config.patchSize;
    if (downsample) stride *= 2;
    layout.push({ stride, downsample, dim, depth: config.depths[i] });
  });
  return layout;
}

export function featureGrid(config: ModelConfig): number {
  return config.imageSize / config.patchSize;
}

export function validateModelConfig(config: ModelConfig): void {
  const fail = (msg: string): never => {
    throw new InputError(`model config: ${msg}`, 'BAD_MODEL_CONFIG');
  };
  const posInt = (v: number, name: string): void => {
    if (!Number.isInteger(v) || v <= 0) fail(`${name} must be a positive integer (got ${v})`);
  };
  for (const key of [
    'imageSize',
    'inChannels',
    'intensityChannels',
    'phases',
    'stemStride',
    'kernelSize',
    'patchSize',
    'decoderDim',
    'tokenDim',
    'heads',
    'attnLayers',
    'classifierHidden',
  ] as const) {
    posInt(config[key], key);
  }
  if (!Number.isInteger(config.decoderDepth) || config.decoderDepth < 0) fail('decoderDepth must be ≥ 0');
  if (config.dims.length === 0 || config.dims.length !== config.depths.length) {
    fail('dims and depths must be non-empty and of equal length');
  }
  config.dims.forEach((d, i) => posInt(d, `dims[${i}]`));
  config.depths.forEach((d, i) => {
    if (!Number.isInteger(d) || d < 0) fail(`depths[${i}] must be ≥ 0`);
  });
  if (config.intensityChannels > config.inChannels) fail('intensityChannels exceeds inChannels');
  if (config.maskChannel >= config.inChannels || config.maskChannel < -1) fail('maskChannel out of range');
  if (config.maskChannel >= 0 && config.maskChannel < config.intensityChannels) {
    fail('maskChannel must come after the intensity channels');
  }
  if (!(config.maskRatio > 0 && config.maskRatio < 1)) fail('maskRatio must lie in (0, 1)');
  if (config.mlpRatio <= 0 || config.attnMlpRatio <= 0) fail('MLP ratios must be positive');
  if (config.imageSize % config.patchSize !== 0) fail('imageSize must be a multiple of patchSize');
  if (config.patchSize % config.stemStride !== 0) fail('patchSize must be a multiple of stemStride');
  const last = stageLayout(config).at(-1);
  if (!last || last.stride !== config.patchSize) {
    fail(
      `the encoder reaches stride ${last?.stride} but patchSize is ${config.patchSize}: ` +
        'add stages or change stemStride/patchSize',
    );
  }
  if (config.tokenDim % config.heads !== 0) fail('tokenDim must be divisible by heads');
  if (config.tokenPooling !== 'global' && config.tokenPooling !== 'regions') {
    fail(`tokenPooling must be "global" or "regions" (got ${String(config.tokenPooling)})`);
  }
  if (config.tokenPooling === 'regions' && config.maskChannel < 0) {
    fail('tokenPooling "regions" needs a mask channel');
  }
  if (config.kernelSize % 2 !== 1) fail('kernelSize must be odd');
}
