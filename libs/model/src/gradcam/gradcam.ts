import * as tf from '@tensorflow/tfjs-core';
import { InputError } from '../../../common/src';
import { batchDynamicScales } from '../network/dynamic-time';
import { PhccModel } from '../network/model';

/**
 * Grad-CAM (Selvaraju et al.) per DCE phase on the encoder's last stage: the logit's gradient
 * with respect to that phase's feature map, averaged over space, weights the channels; the
 * rectified weighted sum is upsampled to the crop. Because one logit depends on all phases
 * (through the dynamic tokens), each phase's map shows where *that* phase pushed the prediction.
 */
export interface GradCamResult {
  logit: number;
  probability: number;
  /** Crop side S; each map is S×S, row-major. */
  size: number;
  /**
   * One heat map per phase, scaled by the patient's largest value over all phases into [0, 1]
   * (so phases stay comparable: a faint phase shows faint).
   */
  maps: Float32Array[];
  /** The same before scaling (the ReLU'd weighted activation sums, upsampled). */
  rawMaps: Float32Array[];
}

/**
 * `x` is one patient's [T, S, S, C] array and `phaseTimes` its phases' times, as in PatientSample
 * (the dynamic tokens' timing, so the logit is the one `predict` gives).
 */
export function gradCam(
  model: PhccModel,
  x: Float32Array,
  phaseTimes?: readonly number[] | null,
): GradCamResult {
  const { phases: t, imageSize: s, inChannels: c } = model.config;
  if (x.length !== t * s * s * c) {
    throw new InputError(
      `Grad-CAM: patient array has ${x.length} values, the model expects ${t * s * s * c}`,
    );
  }
  const { logit, cams } = tf.tidy(() => {
    const images = tf.tensor4d(x, [t, s, s, c]);
    const scales = batchDynamicScales(t, model.config.phaseTimes, [phaseTimes]);
    const dynamicScale = scales && tf.tensor2d(scales, [1, t - 1]);
    const features = model.lastStage(images);
    const logitOf = (f: tf.Tensor): tf.Scalar =>
      tf.sum(model.logitsFromLastStage(f as tf.Tensor4D, images, dynamicScale));
    const gradients = tf.grad(logitOf)(features); // [T, G, G, C]
    const channelWeights = tf.mean(gradients, [1, 2], true);
    const cam = tf.relu(tf.sum(tf.mul(channelWeights, features), -1, true)); // [T, G, G, 1]
    const upsampled = tf.image.resizeBilinear(cam as tf.Tensor4D, [s, s], true);
    return { logit: tf.keep(logitOf(features)), cams: tf.keep(upsampled) };
  });
  const logitValue = logit.dataSync()[0];
  const all = cams.dataSync() as Float32Array;
  logit.dispose();
  cams.dispose();
  const plane = s * s;
  const rawMaps = Array.from({ length: t }, (_, i) =>
    Float32Array.from(all.subarray(i * plane, (i + 1) * plane)),
  );
  let peak = 0;
  for (const map of rawMaps) for (const v of map) peak = Math.max(peak, v);
  const maps = rawMaps.map((map) => (peak > 0 ? map.map((v) => v / peak) : new Float32Array(plane)));
  return { logit: logitValue, probability: 1 / (1 + Math.exp(-logitValue)), size: s, maps, rawMaps };
}

/** Fraction of a map's mass inside a rectangle [y0, y1) × [x0, x1). */
export function massFraction(
  map: Float32Array,
  size: number,
  y0: number,
  y1: number,
  x0: number,
  x1: number,
): number {
  let inside = 0;
  let total = 0;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const v = map[y * size + x];
      total += v;
      if (y >= y0 && y < y1 && x >= x0 && x < x1) inside += v;
    }
  }
  return total > 0 ? inside / total : 0;
}
