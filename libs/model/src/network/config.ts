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
  /**
   * Which phases, in acquisition order (`--phases`): names, and nominal seconds after injection.
   * Optional so configs saved before they existed still load; when set, one entry per phase.
   */
  phaseNames?: string[];
  phaseTimes?: number[];
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

/**
 * Named DCE protocols `--phases` accepts. Nominal times are typical of liver MRI protocols (s
 * after injection; 0 = pre-contrast), for documentation and checks, not fitted to any site.
 */
export const PHASE_PROTOCOLS: Readonly<Record<string, { names: string[]; times: number[] }>> = Object.freeze({
  /** Gadoxetate (hepatobiliary agent): the model's default six phases. */
  'gadoxetate-6': {
    names: ['pre', 'early_arterial', 'late_arterial', 'portal_venous', 'transitional', 'hepatobiliary'],
    times: [0, 25, 35, 70, 180, 1200],
  },
  /** Extracellular gadolinium agent: the usual four-phase liver protocol. */
  'extracellular-4': {
    names: ['pre', 'arterial', 'portal_venous', 'delayed'],
    times: [0, 35, 70, 180],
  },
});

/**
 * `--phases`: a count (4 and 6 take the protocol of that size, others are named phase1…), a
 * protocol name from PHASE_PROTOCOLS, or a comma-separated list of names (name or name:seconds).
 */
export function parsePhaseSpec(
  text: string,
): Pick<ModelConfig, 'phases' | 'phaseNames'> & { phaseTimes?: number[] } {
  const spec = text.trim();
  const fail = (why: string): never => {
    throw new InputError(`--phases "${text}": ${why}`, 'BAD_MODEL_CONFIG');
  };
  const protocol = PHASE_PROTOCOLS[spec];
  if (protocol)
    return {
      phases: protocol.names.length,
      phaseNames: [...protocol.names],
      phaseTimes: [...protocol.times],
    };
  if (/^\d+$/.test(spec)) {
    const n = Number(spec);
    if (n < 1 || n > 16) fail('a phase count must be 1 to 16');
    const sized = Object.values(PHASE_PROTOCOLS).find((p) => p.names.length === n);
    if (sized) return { phases: n, phaseNames: [...sized.names], phaseTimes: [...sized.times] };
    return { phases: n, phaseNames: Array.from({ length: n }, (_, i) => `phase${i + 1}`) };
  }
  const parts = spec.split(',').map((p) => p.trim());
  if (parts.length < 1 || parts.length > 16 || parts.some((p) => !p)) {
    fail(`use a count, one of ${Object.keys(PHASE_PROTOCOLS).join(', ')}, or 1–16 comma-separated names`);
  }
  const names = parts.map((p) => p.split(':')[0].trim());
  const timed = parts.filter((p) => p.includes(':'));
  if (timed.length && timed.length !== parts.length) fail('give a time for every phase or for none');
  if (new Set(names).size !== names.length) fail('phase names repeat');
  if (!timed.length) return { phases: names.length, phaseNames: names };
  const times = parts.map((p) => Number(p.split(':')[1]));
  if (times.some((t) => !Number.isFinite(t))) fail('a phase time is not a number of seconds');
  return { phases: names.length, phaseNames: names, phaseTimes: times };
}

/** "4 phases (pre, arterial, portal_venous, delayed)": how messages name the model's phases. */
export function describePhases(config: Pick<ModelConfig, 'phases' | 'phaseNames'>): string {
  return `${config.phases} phase${config.phases === 1 ? '' : 's'}${config.phaseNames ? ` (${config.phaseNames.join(', ')})` : ''}`;
}

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
  if (config.phaseNames !== undefined) {
    const names = config.phaseNames;
    if (
      !Array.isArray(names) ||
      names.length !== config.phases ||
      names.some((n) => typeof n !== 'string' || !n)
    ) {
      fail(`phaseNames must be ${config.phases} non-empty names (one per phase)`);
    }
  }
  if (config.phaseTimes !== undefined) {
    const times = config.phaseTimes;
    if (!Array.isArray(times) || times.length !== config.phases || times.some((t) => !Number.isFinite(t))) {
      fail(`phaseTimes must be ${config.phases} numbers of seconds (one per phase)`);
    }
    if (times.some((t, i) => i > 0 && t < times[i - 1]))
      fail('phaseTimes must not decrease (acquisition order)');
  }
}
