import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../../common/src';
import { gelu, maskedDenseSwitch, maskedGelu, rowKernelsAvailable, scatterRows } from '../../../compute/src';
import { ModelConfig, stageLayout } from './config';
import {
  defineConv,
  defineDense,
  defineDepthwise,
  defineGrn,
  defineLayerNorm,
  dense,
  depthwise,
  depthwiseOnKeptRows,
  grn,
  layerNorm,
  patchConv,
} from './layers';
import { MaskPyramid } from './mask';
import { ParamStore } from './params';

/**
 * ConvNeXt-V2-style fully convolutional encoder sized for 64×64 ROI crops:
 * patchify stem → stages of [depthwise k×k → LN → pointwise ×r → GELU → GRN → pointwise] blocks,
 * 2×2 stride-2 convolution between stages until the total stride equals the SSL patch size.
 *
 * Unlike ConvNeXt there is no LayerNorm after the stem or before downsampling: an MRI crop is
 * nearly rank one per position (three adjacent slices of one intensity), and a per-position LN
 * there keeps only the sign of the local intensity — it erases the enhancement level, which is
 * the diagnostic signal. LN stays inside each block's residual branch (pre-norm) and at the end.
 *
 * Masked mode (SSL) is the dense equivalent of FCMAE's sparse convolution: masked positions are
 * zeroed after the stem and every downsampling, before every GRN, and the pointwise layers
 * compute the visible rows only (zero at the masked ones), so no visible feature ever depends on
 * a masked pixel. (With `maskedDenseSwitch` off the pointwise layers run dense, and the zeroing
 * also follows every depthwise conv and block.) When every sample keeps as many patches, a block
 * runs on its kept rows as a whole, its depthwise conv included (`applyBlockOnKeptRows`).
 */

/**
 * Switch for the masked block on gathered kept rows (`applyBlockOnKeptRows`): `PHCC_KEPT_ROWS_BLOCK=0`
 * (or the tests' and before/after bench's `enabled`) runs each pointwise layer's own gather and
 * scatter instead, as before. Same values either way (tested).
 */
export const keptRowsBlockSwitch = { enabled: process.env.PHCC_KEPT_ROWS_BLOCK !== '0' };

export function stageName(i: number): string {
  return `encoder/stage${i + 1}`;
}

export function defineEncoder(store: ParamStore, config: ModelConfig, rng: Rng): void {
  const layout = stageLayout(config);
  defineConv(store, 'encoder/stem/conv', config.stemStride, config.inChannels, config.dims[0], rng);
  layout.forEach((stage, i) => {
    const name = stageName(i);
    if (i > 0) {
      const prev = config.dims[i - 1];
      if (stage.downsample) defineConv(store, `${name}/down/conv`, 2, prev, stage.dim, rng);
      else defineDense(store, `${name}/down/proj`, prev, stage.dim, rng);
    }
    for (let b = 0; b < stage.depth; b++) defineBlock(store, `${name}/block${b}`, stage.dim, config, rng);
  });
  defineLayerNorm(store, 'encoder/final_norm', config.dims[config.dims.length - 1]);
}

export function defineBlock(
  store: ParamStore,
  prefix: string,
  dim: number,
  config: ModelConfig,
  rng: Rng,
): void {
  const hidden = Math.round(dim * config.mlpRatio);
  defineDepthwise(store, `${prefix}/dwconv`, config.kernelSize, dim, rng);
  defineLayerNorm(store, `${prefix}/norm`, dim);
  defineDense(store, `${prefix}/pwconv1`, dim, hidden, rng);
  defineGrn(store, `${prefix}/grn`, hidden);
  defineDense(store, `${prefix}/pwconv2`, hidden, dim, rng);
}

export function applyBlock(
  store: ParamStore,
  prefix: string,
  x: tf.Tensor4D,
  mask?: MaskPyramid,
  /**
   * Unmasked blocks: the rows whose output is used (a keep-style map). pwconv2 computes only those
   * and the others come out as x alone — for the SSL decoder's last block, whose prediction is
   * scored on the masked patches only. (GRN's norm spans every row, so pwconv1 runs on all.)
   */
  outputRows?: tf.Tensor4D,
): tf.Tensor4D {
  return tf.tidy(() => {
    // Masked, the pointwise layers compute only the visible rows (≈ 60 % of their multiply-adds
    // skipped) and give exact zeros at the masked ones. Then the two zeroings a dense layer needs
    // are redundant: what the depthwise conv leaves at masked rows reaches only the LayerNorm and
    // pwconv1, which drops those rows (and returns them no gradient); and x + h is already zero
    // there. Masked rows still carry gradient along the residual path, but nothing a weight or a
    // visible value depends on: the stage's entry (a zeroed conv or a masked projection) stops it.
    const skipRows = mask !== undefined && maskedDenseSwitch.enabled;
    const keep = skipRows ? mask.keep(x.shape[1]) : undefined;
    const keptPerSample = skipRows ? mask.keptRowsPerSample(x.shape[1]) : undefined;
    if (keep && keptPerSample !== undefined && keptRowsBlockSwitch.enabled && rowKernelsAvailable(x, keep)) {
      return applyBlockOnKeptRows(store, prefix, x, keep, keptPerSample);
    }
    const zero = (t: tf.Tensor4D): tf.Tensor4D => (mask && !skipRows ? mask.apply(t) : t);
    let h = zero(depthwise(store, `${prefix}/dwconv`, x));
    h = layerNorm(store, `${prefix}/norm`, h) as tf.Tensor4D;
    const hidden = dense(store, `${prefix}/pwconv1`, h, keep);
    // Masked: GELU and the zeroing as one kernel that skips the masked rows (compute/ops/gelu.ts).
    h = (mask ? maskedGelu(hidden, mask.keep(hidden.shape[1] as number)) : gelu(hidden)) as tf.Tensor4D;
    h = grn(store, `${prefix}/grn`, h);
    h = dense(store, `${prefix}/pwconv2`, h, keep ?? outputRows) as tf.Tensor4D;
    return zero(tf.add(x, h) as tf.Tensor4D);
  });
}

/**
 * A masked block on its kept rows only, FCMAE's sparse block: the depthwise conv computes the
 * kept pixels alone, as a compact [B·kept, C] matrix (the block's input is zero at the dropped
 * ones), and LayerNorm, the pointwise layers, GELU and GRN run on it as [B, kept, 1, C] before one
 * scatter back. They are per-row or per-sample, and GRN's spatial norm over the kept rows equals
 * its norm over the whole map with zeros at the masked rows (what the per-layer path feeds it).
 * Same values as that path; the masked rows' work (60 % of the rows: the depthwise conv,
 * LayerNorm, GRN, GELU's zeroing) and three of the four row copies per block are gone (issue #19).
 */
function applyBlockOnKeptRows(
  store: ParamStore,
  prefix: string,
  x: tf.Tensor4D,
  keep: tf.Tensor4D,
  keptPerSample: number,
): tf.Tensor4D {
  return tf.tidy(() => {
    const batch = x.shape[0];
    const rows = depthwiseOnKeptRows(store, `${prefix}/dwconv`, x, keep); // [B·kept, C]
    const sampleRows = (t: tf.Tensor): tf.Tensor4D =>
      tf.reshape(t, [batch, keptPerSample, 1, t.shape[t.rank - 1]]) as tf.Tensor4D;
    let h = layerNorm(store, `${prefix}/norm`, rows);
    h = gelu(dense(store, `${prefix}/pwconv1`, h));
    h = grn(store, `${prefix}/grn`, sampleRows(h));
    h = dense(store, `${prefix}/pwconv2`, h);
    return tf.add(x, scatterRows(tf.reshape(h, rows.shape), keep, x.shape)) as tf.Tensor4D;
  });
}

/**
 * Runs the encoder on NHWC images [B, S, S, inChannels] → last-stage features after the final
 * LayerNorm, [B, G, G, C_last] (G = the SSL patch grid). With `mask`, runs in masked (SSL) mode.
 */
export function applyEncoder(
  store: ParamStore,
  config: ModelConfig,
  images: tf.Tensor4D,
  mask?: MaskPyramid,
  options: { skipFinalNorm?: boolean } = {},
): tf.Tensor4D {
  return tf.tidy(() => {
    const zero = (t: tf.Tensor4D): tf.Tensor4D => (mask ? mask.apply(t) : t);
    let x = patchConv(store, 'encoder/stem/conv', images, config.stemStride);
    x = zero(x);
    stageLayout(config).forEach((stage, i) => {
      const name = stageName(i);
      if (i > 0) {
        // A 2×2 stride-2 conv stays inside one patch (the grid divides every resolution), so
        // zeroing its output is all the masking it needs.
        x = stage.downsample
          ? zero(patchConv(store, `${name}/down/conv`, x, 2))
          : maskedDenseSwitch.enabled
            ? (dense(store, `${name}/down/proj`, x, mask?.keep(x.shape[1])) as tf.Tensor4D)
            : zero(dense(store, `${name}/down/proj`, x) as tf.Tensor4D);
      }
      for (let b = 0; b < stage.depth; b++) x = applyBlock(store, `${name}/block${b}`, x, mask);
    });
    return options.skipFinalNorm ? x : applyFinalNorm(store, x);
  });
}

/**
 * The encoder's closing per-position LayerNorm, split out so Grad-CAM can take gradients at the
 * last stage's own activations: after this norm every position has unit scale, and a map built
 * there spreads over background as evenly as over the lesion.
 */
export function applyFinalNorm(store: ParamStore, lastStage: tf.Tensor4D): tf.Tensor4D {
  return layerNorm(store, 'encoder/final_norm', lastStage) as tf.Tensor4D;
}
