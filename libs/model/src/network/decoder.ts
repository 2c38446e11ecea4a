import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../../common/src';
import { maskedDenseSwitch } from '../../../compute/src';
import { ModelConfig } from './config';
import { applyBlock, defineBlock } from './encoder';
import { defineDense, dense } from './layers';
import { MaskPyramid } from './mask';
import { ParamStore } from './params';

/**
 * FCMAE's light decoder: project the encoder's last feature map (one position per SSL patch),
 * put a learned mask token at the masked positions, one ConvNeXt block, then predict each
 * patch's pixels (patchSize² × intensity channels) with a 1×1 layer.
 */
export function defineDecoder(store: ParamStore, config: ModelConfig, rng: Rng): void {
  const encDim = config.dims[config.dims.length - 1];
  const dim = config.decoderDim;
  defineDense(store, 'decoder/proj', encDim, dim, rng);
  store.addNormal('decoder/mask_token', [dim], rng);
  for (let b = 0; b < config.decoderDepth; b++) defineBlock(store, `decoder/block${b}`, dim, config, rng);
  defineDense(store, 'decoder/pred', dim, patchPixels(config), rng);
}

export function patchPixels(config: ModelConfig): number {
  return config.patchSize * config.patchSize * config.intensityChannels;
}

/** [B, G, G, C_enc] features + mask → [B, G, G, patchSize²·intensityChannels] predictions. */
export function applyDecoder(store: ParamStore, features: tf.Tensor4D, mask: MaskPyramid): tf.Tensor4D {
  return tf.tidy(() => {
    const x = dense(store, 'decoder/proj', features) as tf.Tensor4D;
    const grid = x.shape[1];
    const keep = mask.keep(grid);
    let h = tf.add(
      tf.mul(x, keep),
      tf.mul(store.get('decoder/mask_token'), mask.masked(grid)),
    ) as tf.Tensor4D;
    // The SSL loss scores masked patches only: the prediction layer, and the last block's
    // pwconv2 before it, compute those rows (zero at the visible ones, whose loss weight is 0).
    const scored = maskedDenseSwitch.enabled ? mask.masked(grid) : undefined;
    const blocks = blockCount(store);
    for (let b = 0; b < blocks; b++) {
      h = applyBlock(store, `decoder/block${b}`, h, undefined, b === blocks - 1 ? scored : undefined);
    }
    return dense(store, 'decoder/pred', h, scored) as tf.Tensor4D;
  });
}

function blockCount(store: ParamStore): number {
  let b = 0;
  while (store.has(`decoder/block${b}/dwconv/kernel`)) b++;
  return b;
}

/**
 * Images [B, S, S, C] → patches [B, G, G, p·p·C] in row-major (py, px, c) order, matching what the
 * decoder's prediction layer is trained to output.
 */
export function patchify(images: tf.Tensor4D, patchSize: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [batch, size, , channels] = images.shape;
    const grid = size / patchSize;
    const x = tf.reshape(images, [batch, grid, patchSize, grid, patchSize, channels]);
    const t = tf.transpose(x, [0, 1, 3, 2, 4, 5]);
    return tf.reshape(t, [batch, grid, grid, patchSize * patchSize * channels]) as tf.Tensor4D;
  });
}

/** Inverse of patchify: [B, G, G, p·p·C] → [B, S, S, C]. */
export function unpatchify(patches: tf.Tensor4D, patchSize: number, channels: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [batch, grid] = patches.shape;
    const x = tf.reshape(patches, [batch, grid, grid, patchSize, patchSize, channels]);
    const t = tf.transpose(x, [0, 1, 3, 2, 4, 5]);
    return tf.reshape(t, [batch, grid * patchSize, grid * patchSize, channels]) as tf.Tensor4D;
  });
}
