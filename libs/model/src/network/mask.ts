import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../../common/src';

/**
 * SSL patch masks on the patch grid: 1 = masked, 0 = visible, shape [B, G, G].
 * Exactly round(ratio · G²) patches per sample, chosen per sample (as FCMAE's argsort of noise),
 * so the masked fraction does not fluctuate from batch to batch.
 */
export function randomPatchMask(rng: Rng, batch: number, grid: number, ratio: number): Float32Array {
  const perSample = grid * grid;
  const masked = Math.round(ratio * perSample);
  const out = new Float32Array(batch * perSample);
  const order = Array.from({ length: perSample }, (_, i) => i);
  for (let b = 0; b < batch; b++) {
    rng.shuffle(order);
    for (let k = 0; k < masked; k++) out[b * perSample + order[k]] = 1;
  }
  return out;
}

/**
 * The "keep" map (1 − mask) at a feature resolution, [B, R, R, 1]; each patch-grid cell becomes a
 * (R/G)×(R/G) block. Multiplying a feature map by it zeroes the masked positions.
 */
export function keepMapAt(mask: tf.Tensor3D, resolution: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [batch, grid] = mask.shape;
    const factor = resolution / grid;
    if (!Number.isInteger(factor) || factor < 1) {
      throw new Error(`feature resolution ${resolution} is not a multiple of the patch grid ${grid}`);
    }
    const keep = tf.reshape(tf.sub(1, mask), [batch, grid, 1, grid, 1, 1]);
    const tiled = tf.tile(keep, [1, 1, factor, 1, factor, 1]);
    return tf.reshape(tiled, [batch, resolution, resolution, 1]) as tf.Tensor4D;
  });
}

/**
 * Keep maps for every resolution the encoder visits, built once per batch. Keyed by resolution.
 */
export class MaskPyramid {
  private readonly maps = new Map<number, tf.Tensor4D>();

  private readonly maskedMaps = new Map<number, tf.Tensor4D>();

  constructor(readonly mask: tf.Tensor3D) {}

  keep(resolution: number): tf.Tensor4D {
    let map = this.maps.get(resolution);
    if (!map) {
      map = tf.keep(keepMapAt(this.mask, resolution));
      this.maps.set(resolution, map);
    }
    return map;
  }

  /** The complement of `keep` at a resolution, [B, R, R, 1]: 1 at the masked positions. */
  masked(resolution: number): tf.Tensor4D {
    let map = this.maskedMaps.get(resolution);
    if (!map) {
      const keep = this.keep(resolution);
      map = tf.keep(tf.sub(1, keep) as tf.Tensor4D);
      this.maskedMaps.set(resolution, map);
    }
    return map;
  }

  /** Zeroes masked positions of x (NHWC at any multiple of the patch grid). */
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.mul(x, this.keep(x.shape[1])) as tf.Tensor4D;
  }

  dispose(): void {
    for (const map of [...this.maps.values(), ...this.maskedMaps.values()]) map.dispose();
    this.maps.clear();
    this.maskedMaps.clear();
  }
}
