import { DEFAULT_AUGMENT } from './augment';
import type { SslWeighting } from './losses';
import type { FinetuneTrainOptions, SslTrainOptions } from './loops';

/*
 * The training defaults, apart from the code that trains: `phcc-fed train --help` and the compare
 * budget print and build on them, and neither should load TensorFlow.js to do so (loops.ts and
 * losses.ts do, at import). Values and type-only imports only: keep it that way.
 */

export const DEFAULT_SSL_WEIGHTING: Readonly<SslWeighting> = Object.freeze({
  tumourWeight: 2,
  hardnessExponent: 0.5,
});

// Epoch defaults fit `train --stage both` on 240 patients into ~15 min on 2 cores (docs/MODEL.md).
export const DEFAULT_SSL_OPTIONS: Readonly<SslTrainOptions> = Object.freeze({
  epochs: 12,
  lr: 1.5e-3,
  warmupEpochs: 1,
  weightDecay: 0.05,
  clipNorm: 1,
  seed: 0,
  batchSize: 32,
  weighting: DEFAULT_SSL_WEIGHTING,
  flips: true,
});

export const DEFAULT_FINETUNE_OPTIONS: Readonly<FinetuneTrainOptions> = Object.freeze({
  epochs: 15,
  lr: 2e-3,
  warmupEpochs: 1,
  weightDecay: 0.05,
  clipNorm: 1,
  seed: 0,
  batchSize: 8,
  augment: DEFAULT_AUGMENT,
  freezeEncoderEpochs: 2,
  encoderLrScale: 0.25,
  // Without it the head does not learn on SSL features for epochs (docs/MODEL.md, "Evidence").
  centerTokens: true,
});
