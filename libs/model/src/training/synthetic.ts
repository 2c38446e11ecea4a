import { Rng } from '../../../common/src';
import { ModelConfig } from '../network/config';
import { PatientSample } from './types';

/**
 * Small constructed cohorts with a known answer, for tests, benchmarks and smoke runs — not a
 * model of DCE-MRI (libs/imaging's generator is). Every phase shows smooth random background
 * texture and a tumour disc (mask channel); in label-1 patients the disc's own quadrant of the
 * crop `signalQuadrant` holds a bright spot that appears from the second phase on (wash-in), so the
 * only class signal sits in a known region and is dynamic.
 */
export interface ConstructedCohortOptions {
  patients: number;
  seed: number;
  /** 0 = top-left, 1 = top-right, 2 = bottom-left, 3 = bottom-right. */
  signalQuadrant?: number;
  /** Amplitude of the class signal relative to the background's unit scale. */
  signalStrength?: number;
  split?: 'train' | 'test';
  /** Standard deviation of pixel noise (default 0.05). */
  noise?: number;
  /** Peak amplitude of the background blobs (default 1). */
  backgroundAmplitude?: number;
}

export function constructedCohort(config: ModelConfig, options: ConstructedCohortOptions): PatientSample[] {
  const rng = new Rng(options.seed);
  const quadrant = options.signalQuadrant ?? 0;
  const strength = options.signalStrength ?? 3;
  const noise = options.noise ?? 0.05;
  const { imageSize: s, inChannels: c, phases: t, intensityChannels: ci, maskChannel } = config;
  const half = s / 2;
  const qy = quadrant >= 2 ? half : 0;
  const qx = quadrant % 2 === 1 ? half : 0;
  return Array.from({ length: options.patients }, (_, p) => {
    const label: 0 | 1 = p % 2 === 0 ? 1 : 0;
    const x = new Float32Array(t * s * s * c);
    // A few smooth blobs shared by all phases (the anatomy), each phase scaled (enhancement).
    const blobs = Array.from({ length: 4 }, () => ({
      y: rng.uniform(0, s),
      x: rng.uniform(0, s),
      r: rng.uniform(s / 10, s / 4),
      a: rng.uniform(-1, 1) * (options.backgroundAmplitude ?? 1),
    }));
    const tumour = { y: rng.uniform(s * 0.35, s * 0.65), x: rng.uniform(s * 0.35, s * 0.65), r: s / 6 };
    const spot = {
      y: qy + rng.uniform(half * 0.3, half * 0.7),
      x: qx + rng.uniform(half * 0.3, half * 0.7),
      r: s / 12,
    };
    for (let phase = 0; phase < t; phase++) {
      const gain = 1 + 0.2 * phase + rng.uniform(-0.05, 0.05);
      for (let yy = 0; yy < s; yy++) {
        for (let xx = 0; xx < s; xx++) {
          let v = 0;
          for (const b of blobs) v += b.a * Math.exp(-((yy - b.y) ** 2 + (xx - b.x) ** 2) / (2 * b.r * b.r));
          v *= gain;
          if (label === 1 && phase >= 1) {
            v += strength * Math.exp(-((yy - spot.y) ** 2 + (xx - spot.x) ** 2) / (2 * spot.r * spot.r));
          }
          const o = ((phase * s + yy) * s + xx) * c;
          for (let ch = 0; ch < ci; ch++)
            x[o + ch] = v * (1 - 0.1 * ch) + (noise > 0 ? rng.normal(0, noise) : 0);
          if (maskChannel >= 0)
            x[o + maskChannel] = (yy - tumour.y) ** 2 + (xx - tumour.x) ** 2 <= tumour.r ** 2 ? 1 : 0;
        }
      }
    }
    return { id: `p${p}`, label, split: options.split ?? 'train', x };
  });
}
