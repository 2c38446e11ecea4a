import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../../common/src';
import { featureGrid, ModelConfig, poolingRegions } from './config';
import { gelu } from '../../../compute/src';
import { TOKEN_CENTRE_TENSOR } from '../../../federated/src/token-centre';
import { defineDense, defineLayerNorm, dense, layerNorm } from './layers';
import { ParamStore } from './params';

/**
 * The fine-tuning head: per-phase tokens f_t (global-average-pooled encoder features → LN →
 * linear), dynamic tokens Δf_t = f_t − f_{t−1} (contrast wash-in / wash-out between phases),
 * learned phase and token-type embeddings, pre-LN multi-head self-attention layers, mean pooling,
 * MLP → one logit for P(proliferative).
 */
export function defineHead(store: ParamStore, config: ModelConfig, rng: Rng): void {
  const encDim = config.dims[config.dims.length - 1] * poolingRegions(config);
  const d = config.tokenDim;
  // Subtracted from the pooled features before the token LayerNorm; fine-tuning sets it to the
  // training set's mean first (`initTokenCenter`). See `TOKEN_CENTER`.
  if (config.tokenPooling === 'regions') store.addConstant(TOKEN_CENTER, [encDim], 0);
  defineLayerNorm(store, 'head/token_norm', encDim);
  defineDense(store, 'head/token_proj', encDim, d, rng);
  store.addNormal('head/phase_embedding', [config.phases, d], rng);
  store.addNormal('head/type_embedding', [2, d], rng);
  const hidden = Math.round(d * config.attnMlpRatio);
  for (let l = 0; l < config.attnLayers; l++) {
    const p = `head/attn${l}`;
    defineLayerNorm(store, `${p}/norm1`, d);
    for (const proj of ['q', 'k', 'v', 'out']) defineDense(store, `${p}/${proj}`, d, d, rng);
    defineLayerNorm(store, `${p}/norm2`, d);
    defineDense(store, `${p}/mlp1`, d, hidden, rng);
    defineDense(store, `${p}/mlp2`, hidden, d, rng);
  }
  defineLayerNorm(store, 'head/pool_norm', d);
  defineDense(store, 'head/fc1', d, config.classifierHidden, rng);
  defineDense(store, 'head/fc2', config.classifierHidden, 1, rng);
}

/**
 * Spatial pooling weights for `regions` token pooling, from the mask channel of the phase images
 * [N, S, S, C] → [N, G·G, 3] (tumour, rim, whole crop; each column sums to 1 over the grid).
 *
 * Why: the crop is the tumour plus a margin of liver, and the diagnostic signs (arterial
 * hyper-enhancement, wash-out, capsule, hepatobiliary uptake) are the tumour's intensity
 * *relative to* the liver around it. A global average mixes the two; on our synthetic cohort a
 * linear model on whole-crop means reaches AUC ≈ 0.62, on tumour / rim / background means ≈ 0.85.
 * The rim is a dilation of the mask by S/16 pixels (4 at 64×64): the peritumoural band where a
 * capsule or an irregular margin shows. Soft masks (after rotation augmentation) are used as is.
 */
export function regionPoolingWeights(config: ModelConfig, images: tf.Tensor4D): tf.Tensor3D {
  return tf.tidy(() => {
    const [n, s] = images.shape;
    const g = featureGrid(config);
    const cell = s / g;
    const mask = tf.clipByValue(tf.slice(images, [0, 0, 0, config.maskChannel], [-1, -1, -1, 1]), 0, 1);
    const radius = Math.max(1, Math.round(s / 16));
    // A square max filter is a row filter then a column filter, exactly (max is associative and
    // 'same' padding ignores the border either way): 2·9 compares a pixel instead of 81, and on
    // wasm's single-channel pooling 3 ms instead of 17 for a fine-tune batch (issue #19).
    const width = 2 * radius + 1;
    const dilated = tf.maxPool(tf.maxPool(mask as tf.Tensor4D, [1, width], 1, 'same'), [width, 1], 1, 'same');
    const rim = tf.sub(dilated, mask);
    const down = (m: tf.Tensor) =>
      tf.reshape(tf.avgPool(m as tf.Tensor4D, cell, cell, 'valid'), [n, g * g, 1]);
    const maps = tf.concat([down(mask), down(rim), tf.ones([n, g * g, 1])], 2);
    return tf.div(maps, tf.add(tf.sum(maps, 1, true), 1e-6)) as tf.Tensor3D;
  });
}

/**
 * The pooled features' centre. SSL features carry most of their energy in a pattern shared by
 * every patient (across-patient variance 15–23 % of the mean square, docs/MODEL.md); a per-sample
 * LayerNorm keeps it, and with class-imbalanced small batches its gradient noise dominates Adam's
 * second moments, so the head hardly moves. Subtracting the training set's mean pooled feature
 * first leaves the LayerNorm the part that differs between patients. A learned parameter like any
 * other (federated, saved); zero = no centring.
 */
export const TOKEN_CENTER = TOKEN_CENTRE_TENSOR;

/** [N, G, G, C] features → [N, R·C] pooled (R = 1 for `global`, 3 for `regions`). */
export function poolFeatures(config: ModelConfig, features: tf.Tensor4D, images?: tf.Tensor4D): tf.Tensor2D {
  if (config.tokenPooling === 'global') return tf.mean(features, [1, 2]) as tf.Tensor2D;
  if (!images) throw new Error('tokenPooling "regions" needs the phase images (for the mask channel)');
  const [n, g, , c] = features.shape;
  const weights = regionPoolingWeights(config, images); // [N, G², R]
  const pooled = tf.matMul(weights, tf.reshape(features, [n, g * g, c]), true, false); // [N, R, C]
  return tf.reshape(pooled, [n, -1]) as tf.Tensor2D;
}

/**
 * Static then dynamic tokens with their embeddings: [B, 2T−1, d]. `dynamicScale` [B, T−1], when
 * given, rescales each Δf_t to the model's nominal phase interval (dynamic-time.ts).
 */
export function phaseTokens(
  store: ParamStore,
  config: ModelConfig,
  features: tf.Tensor4D,
  images?: tf.Tensor4D,
  dynamicScale?: tf.Tensor2D,
): tf.Tensor3D {
  return tf.tidy(() => {
    const T = config.phases;
    let pooled: tf.Tensor = poolFeatures(config, features, images); // [B·T, R·C]
    if (store.has(TOKEN_CENTER)) pooled = tf.sub(pooled, store.get(TOKEN_CENTER));
    const batch = pooled.shape[0] / T;
    const perPatient = tf.reshape(pooled, [batch, T, -1]);
    const f = dense(store, 'head/token_proj', layerNorm(store, 'head/token_norm', perPatient)) as tf.Tensor3D;
    const phaseEmb = store.get('head/phase_embedding');
    const typeEmb = store.get('head/type_embedding');
    const staticTokens = tf.add(tf.add(f, phaseEmb), tf.slice(typeEmb, [0, 0], [1, -1]));
    if (T === 1) return staticTokens as tf.Tensor3D;
    let delta = tf.sub(tf.slice(f, [0, 1, 0], [-1, T - 1, -1]), tf.slice(f, [0, 0, 0], [-1, T - 1, -1]));
    if (dynamicScale) delta = tf.mul(delta, tf.expandDims(dynamicScale, 2));
    const dynamicTokens = tf.add(
      tf.add(delta, tf.slice(phaseEmb, [1, 0], [T - 1, -1])),
      tf.slice(typeEmb, [1, 0], [1, -1]),
    );
    return tf.concat([staticTokens, dynamicTokens], 1) as tf.Tensor3D;
  });
}

function selfAttention(store: ParamStore, prefix: string, x: tf.Tensor3D, heads: number): tf.Tensor3D {
  return tf.tidy(() => {
    const [batch, n, d] = x.shape;
    const dh = d / heads;
    const split = (t: tf.Tensor): tf.Tensor4D =>
      tf.transpose(tf.reshape(t, [batch, n, heads, dh]), [0, 2, 1, 3]) as tf.Tensor4D;
    const q = split(dense(store, `${prefix}/q`, x));
    const k = split(dense(store, `${prefix}/k`, x));
    const v = split(dense(store, `${prefix}/v`, x));
    const scores = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(dh));
    const attended = tf.matMul(tf.softmax(scores, -1), v); // [B, h, n, dh]
    const merged = tf.reshape(tf.transpose(attended, [0, 2, 1, 3]), [batch, n, d]);
    return dense(store, `${prefix}/out`, merged) as tf.Tensor3D;
  });
}

function transformerLayer(store: ParamStore, prefix: string, x: tf.Tensor3D, heads: number): tf.Tensor3D {
  return tf.tidy(() => {
    const h = tf.add(
      x,
      selfAttention(store, prefix, layerNorm(store, `${prefix}/norm1`, x) as tf.Tensor3D, heads),
    );
    const mlp = dense(
      store,
      `${prefix}/mlp2`,
      gelu(dense(store, `${prefix}/mlp1`, layerNorm(store, `${prefix}/norm2`, h))),
    );
    return tf.add(h, mlp) as tf.Tensor3D;
  });
}

/**
 * Encoder features of B patients' T phases, [B·T, G, G, C] (phase-major per patient) → logits [B].
 * `images` are the same B·T phase images [B·T, S, S, C]; `regions` pooling reads their mask.
 * `dynamicScale` [B, T−1]: the dynamic tokens' phase-timing factors (1 when absent).
 */
export function applyHead(
  store: ParamStore,
  config: ModelConfig,
  features: tf.Tensor4D,
  images?: tf.Tensor4D,
  dynamicScale?: tf.Tensor2D,
): tf.Tensor1D {
  return tf.tidy(() => {
    let tokens = phaseTokens(store, config, features, images, dynamicScale);
    for (let l = 0; l < config.attnLayers; l++)
      tokens = transformerLayer(store, `head/attn${l}`, tokens, config.heads);
    const pooled = layerNorm(store, 'head/pool_norm', tf.mean(tokens, 1));
    const hidden = gelu(dense(store, 'head/fc1', pooled));
    return tf.reshape(dense(store, 'head/fc2', hidden), [-1]) as tf.Tensor1D;
  });
}
