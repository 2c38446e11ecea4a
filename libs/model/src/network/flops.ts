import { ModelConfig, poolingRegions, stageLayout } from './config';
import { patchPixels } from './decoder';

/**
 * Forward multiply-accumulates per image, counted layer by layer (elementwise ops, norms and
 * activations left out: they are < 5 % here). FLOPs = 2 × MACs. Used for the training-time
 * budget in docs/MODEL.md and by the bench to turn images/s into achieved GFLOP/s.
 */
export interface FlopCount {
  encoderMacs: number;
  decoderMacs: number;
  /** Head MACs per patient (all phases' tokens), excluding the encoder. */
  headMacs: number;
  byLayer: { name: string; macs: number }[];
}

export function countFlops(config: ModelConfig): FlopCount {
  const byLayer: { name: string; macs: number }[] = [];
  const add = (name: string, macs: number): number => {
    byLayer.push({ name, macs });
    return macs;
  };
  const block = (name: string, res: number, dim: number): number => {
    const px = res * res;
    const hidden = Math.round(dim * config.mlpRatio);
    return (
      add(`${name}/dwconv`, px * config.kernelSize ** 2 * dim) +
      add(`${name}/pwconv1`, px * dim * hidden) +
      add(`${name}/pwconv2`, px * hidden * dim)
    );
  };
  let res = config.imageSize / config.stemStride;
  let encoderMacs = add(
    'encoder/stem',
    res * res * config.stemStride ** 2 * config.inChannels * config.dims[0],
  );
  stageLayout(config).forEach((stage, i) => {
    if (i > 0) {
      const prev = config.dims[i - 1];
      if (stage.downsample) res /= 2;
      encoderMacs += add(
        `encoder/stage${i + 1}/down`,
        res * res * (stage.downsample ? 4 : 1) * prev * stage.dim,
      );
    }
    for (let b = 0; b < stage.depth; b++)
      encoderMacs += block(`encoder/stage${i + 1}/block${b}`, res, stage.dim);
  });
  const grid = res;
  const last = config.dims[config.dims.length - 1];
  let decoderMacs = add('decoder/proj', grid * grid * last * config.decoderDim);
  for (let b = 0; b < config.decoderDepth; b++)
    decoderMacs += block(`decoder/block${b}`, grid, config.decoderDim);
  decoderMacs += add('decoder/pred', grid * grid * config.decoderDim * patchPixels(config));
  const d = config.tokenDim;
  const n = 2 * config.phases - 1;
  let headMacs = add('head/token_proj', config.phases * last * poolingRegions(config) * d);
  for (let l = 0; l < config.attnLayers; l++) {
    headMacs += add(`head/attn${l}/qkvo`, 4 * n * d * d);
    headMacs += add(`head/attn${l}/scores`, 2 * n * n * d);
    headMacs += add(`head/attn${l}/mlp`, 2 * n * d * Math.round(d * config.attnMlpRatio));
  }
  headMacs += add('head/classifier', d * config.classifierHidden + config.classifierHidden);
  return { encoderMacs, decoderMacs, headMacs, byLayer };
}
