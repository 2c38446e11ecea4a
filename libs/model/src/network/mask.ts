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
 *
 * Built on the host from the mask's values: the mask is data (never differentiated), and tfjs's
 * rank-6 Tile, the obvious tensor form, computes every output index separately — 3.7 ms for the
 * 32×32 map of a 32-image batch on wasm against ≈ 0.05 ms here (issue #19).
 */
export function keepMapAt(mask: tf.Tensor3D, resolution: number): tf.Tensor4D {
  const [batch, grid] = mask.shape;
  const factor = resolution / grid;
  if (!Number.isInteger(factor) || factor < 1) {
    throw new Error(`feature resolution ${resolution} is not a multiple of the patch grid ${grid}`);
  }
  const masked = mask.dataSync();
  const keep = new Float32Array(batch * resolution * resolution);
  for (let b = 0; b < batch; b++) {
    for (let y = 0; y < resolution; y++) {
      const cells = (b * grid + Math.floor(y / factor)) * grid;
      const row = (b * resolution + y) * resolution;
      for (let x = 0; x < resolution; x++) keep[row + x] = 1 - masked[cells + Math.floor(x / factor)];
    }
  }
  return tf.tensor4d(keep, [batch, resolution, resolution, 1]);
}

/**
 * Keep maps for every resolution the encoder visits, built once per batch. Keyed by resolution.
 */
export class MaskPyramid {
  private readonly maps = new Map<number, tf.Tensor4D>();

  private readonly maskedMaps = new Map<number, tf.Tensor4D>();

  /** Grid cells every sample keeps, null when samples differ (keptRowsPerSample). */
  private keptPerSample?: number | null;

  constructor(readonly mask: tf.Tensor3D) {}

  keep(resolution: number): tf.Tensor4D {
    let map = this.maps.get(resolution);
    if (!map) {
      map = tf.keep(keepMapAt(this.mask, resolution));
      this.maps.set(resolution, map);
    }
    return map;
  }

  /**
   * Rows each sample keeps at a resolution when every sample keeps the same number (then the
   * kept rows of a [B, R, R, C] map, gathered, are [B, kept, C]: per-sample layers such as GRN
   * run on them as is), else undefined. `randomPatchMask` masks the same count in every sample.
   */
  keptRowsPerSample(resolution: number): number | undefined {
    if (this.keptPerSample === undefined) {
      const [batch, grid] = this.mask.shape;
      const values = this.mask.dataSync();
      const counts = new Set<number>();
      for (let b = 0; b < batch; b++) {
        let kept = 0;
        for (let i = b * grid * grid; i < (b + 1) * grid * grid; i++) {
          if (values[i] === 0) kept++;
          else if (values[i] !== 1) kept = NaN; // a soft mask: no whole rows to count
        }
        counts.add(kept);
      }
      const [only] = counts;
      this.keptPerSample = counts.size === 1 && Number.isInteger(only) ? only : null;
    }
    if (this.keptPerSample === null) return undefined;
    const factor = resolution / this.mask.shape[1];
    return this.keptPerSample * factor * factor;
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
