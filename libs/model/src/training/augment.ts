import { Rng } from '../../../common/src';

/**
 * Light, label-preserving augmentation for fine-tuning on small cohorts. One geometric transform
 * per patient, applied identically to every phase and to the mask channel (the phases are
 * co-registered; moving them apart would destroy the dynamic Δf tokens' meaning). Intensity
 * jitter is drawn per phase and touches intensity channels only, mimicking per-series scanner gain.
 */
export interface AugmentOptions {
  flips: boolean;
  /** Maximum absolute rotation in degrees (0 = none). */
  maxRotationDeg: number;
  /** Multiplicative jitter: scale ∈ [1 − s, 1 + s]. */
  intensityScale: number;
  /** Additive jitter: shift ∈ [−b, b] (in normalised intensity units). */
  intensityShift: number;
}

export const DEFAULT_AUGMENT: Readonly<AugmentOptions> = Object.freeze({
  flips: true,
  maxRotationDeg: 10,
  intensityScale: 0.1,
  intensityShift: 0.1,
});

export const NO_AUGMENT: Readonly<AugmentOptions> = Object.freeze({
  flips: false,
  maxRotationDeg: 0,
  intensityScale: 0,
  intensityShift: 0,
});

export interface ImageLayout {
  phases: number;
  size: number;
  channels: number;
  intensityChannels: number;
}

/** Returns a new array; `x` is [T, S, S, C]. */
export function augmentPatient(
  x: Float32Array,
  layout: ImageLayout,
  rng: Rng,
  options: AugmentOptions,
): Float32Array {
  const { phases, size, channels, intensityChannels } = layout;
  const flipX = options.flips && rng.bernoulli(0.5);
  const flipY = options.flips && rng.bernoulli(0.5);
  const angle =
    options.maxRotationDeg > 0 ? (rng.uniform(-1, 1) * options.maxRotationDeg * Math.PI) / 180 : 0;
  const jitter = Array.from({ length: phases }, () => ({
    scale: 1 + rng.uniform(-1, 1) * options.intensityScale,
    shift: rng.uniform(-1, 1) * options.intensityShift,
  }));
  const out = new Float32Array(x.length);
  const plane = size * size * channels;
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const centre = (size - 1) / 2;
  for (let t = 0; t < phases; t++) {
    const base = t * plane;
    for (let yOut = 0; yOut < size; yOut++) {
      for (let xOut = 0; xOut < size; xOut++) {
        // Inverse map: output pixel → source position (rotate about the centre, then flip).
        const dy = yOut - centre;
        const dx = xOut - centre;
        let sy = cos * dy - sin * dx + centre;
        let sx = sin * dy + cos * dx + centre;
        if (flipY) sy = size - 1 - sy;
        if (flipX) sx = size - 1 - sx;
        const o = base + (yOut * size + xOut) * channels;
        sampleBilinear(x, base, size, channels, sy, sx, out, o);
      }
    }
    const { scale, shift } = jitter[t];
    if (scale !== 1 || shift !== 0) {
      for (let p = 0; p < size * size; p++) {
        const o = base + p * channels;
        for (let c = 0; c < intensityChannels; c++) out[o + c] = out[o + c] * scale + shift;
      }
    }
  }
  return out;
}

/** Bilinear sample with edge clamping (ROI crops have tissue at the border, not zeros). */
function sampleBilinear(
  src: Float32Array,
  base: number,
  size: number,
  channels: number,
  y: number,
  x: number,
  out: Float32Array,
  o: number,
): void {
  const cy = Math.min(Math.max(y, 0), size - 1);
  const cx = Math.min(Math.max(x, 0), size - 1);
  const y0 = Math.floor(cy);
  const x0 = Math.floor(cx);
  const y1 = Math.min(y0 + 1, size - 1);
  const x1 = Math.min(x0 + 1, size - 1);
  const fy = cy - y0;
  const fx = cx - x0;
  const i00 = base + (y0 * size + x0) * channels;
  const i01 = base + (y0 * size + x1) * channels;
  const i10 = base + (y1 * size + x0) * channels;
  const i11 = base + (y1 * size + x1) * channels;
  for (let c = 0; c < channels; c++) {
    const top = src[i00 + c] * (1 - fx) + src[i01 + c] * fx;
    const bottom = src[i10 + c] * (1 - fx) + src[i11 + c] * fx;
    out[o + c] = top * (1 - fy) + bottom * fy;
  }
}

/** Random horizontal/vertical flips of single phase images [N, S, S, C], in place (SSL views). */
export function flipImagesInPlace(
  images: Float32Array,
  count: number,
  size: number,
  channels: number,
  rng: Rng,
): void {
  const plane = size * size * channels;
  const row = new Float32Array(channels);
  for (let n = 0; n < count; n++) {
    const base = n * plane;
    if (rng.bernoulli(0.5)) {
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size / 2; x++)
          swapPixels(
            images,
            base + (y * size + x) * channels,
            base + (y * size + size - 1 - x) * channels,
            channels,
            row,
          );
      }
    }
    if (rng.bernoulli(0.5)) {
      for (let y = 0; y < size / 2; y++) {
        for (let x = 0; x < size; x++)
          swapPixels(
            images,
            base + (y * size + x) * channels,
            base + ((size - 1 - y) * size + x) * channels,
            channels,
            row,
          );
      }
    }
  }
}

function swapPixels(a: Float32Array, i: number, j: number, channels: number, tmp: Float32Array): void {
  for (let c = 0; c < channels; c++) tmp[c] = a[i + c];
  for (let c = 0; c < channels; c++) a[i + c] = a[j + c];
  for (let c = 0; c < channels; c++) a[j + c] = tmp[c];
}
