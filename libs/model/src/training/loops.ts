import * as tf from '@tensorflow/tfjs-core';
import { InputError, Rng } from '../../../common/src';
import { randomPatchMask } from '../network/mask';
import { batchDynamicScales } from '../network/dynamic-time';
import { TOKEN_CENTER } from '../network/head';
import { PhccModel } from '../network/model';
import { augmentPatient, AugmentOptions, flipImagesInPlace } from './augment';
import { balancedClassWeights, ClassWeights, SslWeighting } from './losses';
import { AdamW, cosineLr, Optimizer } from './optimizer';
import type { StepExecutor } from './parallel';
import type { StepSpec } from './shard';
import { finetuneStep, sslStep, StepResult } from './steps';
import { checkDpSgdOptions, dpSgdFinetuneStep, DpSgdOptions } from './dp-sgd';
import { NoiseSource, secureNormalNoise } from '../../../federated/src/privacy/dp/gaussian';
import {
  datasetGet,
  datasetSize,
  PatientDataset,
  PatientSample,
  ProgressCallback,
  TrainHistory,
  TrainingStage,
} from './types';
import { DEFAULT_FINETUNE_OPTIONS, DEFAULT_SSL_OPTIONS } from './defaults';
import { isFinetunePatient, isHeldOut, isSslPatient } from './patient-roles';

export { isFinetunePatient, isHeldOut, isSslPatient };

// Defined in defaults.ts (no TensorFlow.js there, for `train --help`); exported here as ever.
export { DEFAULT_FINETUNE_OPTIONS, DEFAULT_SSL_OPTIONS };

interface CommonTrainOptions {
  epochs: number;
  /** Peak learning rate of the cosine schedule. */
  lr: number;
  /** Linear LR warm-up length, in epochs (may be fractional). */
  warmupEpochs: number;
  weightDecay: number;
  /** Global gradient-norm clip (0 = off). */
  clipNorm: number;
  /** Seeds shuffling, masks and augmentation: same seed + same data + same backend = same weights. */
  seed: number;
  /** Stops between steps (a round deadline, Ctrl-C). */
  signal?: AbortSignal;
  /** Reuse an optimiser (its moments) across calls, e.g. across federated rounds. */
  optimizer?: Optimizer;
  /**
   * Place this call inside a longer schedule (a federated round of a stage): the warm-up +
   * cosine runs over `totalEpochs` (warm-up `warmupEpochs` of them) and this call's first epoch
   * is global epoch `startEpoch` (0-based). Absent: the schedule spans this call's epochs.
   */
  schedule?: { startEpoch: number; totalEpochs: number };
  /** Runs each step elsewhere (`ShardedStepper`: worker-thread replicas); default in-process. */
  executor?: StepExecutor;
}

export interface SslTrainOptions extends CommonTrainOptions {
  /** Phase images per step. */
  batchSize: number;
  weighting: SslWeighting;
  /** Random flips of each view (FCMAE's only augmentation needed at this scale). */
  flips: boolean;
}

export interface FinetuneTrainOptions extends CommonTrainOptions {
  /** Patients per step (each brings T phase images). */
  batchSize: number;
  augment: AugmentOptions;
  /** Epochs at the start that train the head only (protects SSL features from a random head). */
  freezeEncoderEpochs: number;
  /**
   * Encoder LR as a fraction of `lr`. The head starts from 0.02-std weights and needs large
   * steps to grow a logit; the encoder's (pre-trained) weights would be wrecked by the same steps.
   */
  encoderLrScale: number;
  /** Per-class loss weights; balanced from the training labels when left undefined. */
  classWeights?: ClassWeights;
  /**
   * Set the head's token centre to the training patients' mean pooled feature before the first
   * step (see TOKEN_CENTER in network/head.ts). Off in federated rounds: there the centre is a
   * global weight like the others, and re-estimating it locally every round would reset it.
   */
  centerTokens: boolean;
  /**
   * Record-level DP-SGD (dp-sgd.ts): per-patient clipping and Gaussian noise in every step.
   * `noise` defaults to the OS CSPRNG; a seeded `Rng` only in tests (a known seed undoes the noise).
   */
  dpSgd?: DpSgdOptions & { noise?: NoiseSource };
}

/**
 * Stage 1: FCMAE self-supervision on single phase images of every eligible patient. One epoch
 * visits each (patient, phase) pair once, in a seeded order; each image gets its own mask.
 */
export async function trainSsl(
  model: PhccModel,
  dataset: PatientDataset,
  options: Partial<SslTrainOptions> = {},
  onProgress?: ProgressCallback,
): Promise<TrainHistory> {
  const opts: SslTrainOptions = { ...DEFAULT_SSL_OPTIONS, ...options };
  const { config } = model;
  const rng = new Rng(opts.seed);
  const eligible = await selectPatients(dataset, isSslPatient, model);
  if (eligible.length === 0) throw new InputError('SSL: no patients outside the test and validation splits');
  const images = eligible.length * config.phases;
  const stepsPerEpoch = Math.ceil(images / opts.batchSize);
  const plane = config.imageSize * config.imageSize * config.inChannels;
  const grid = model.grid;
  return runEpochs(
    'ssl',
    model,
    opts,
    stepsPerEpoch,
    onProgress,
    async (epochRng, stepInEpoch, order) => {
      const items = order(() => epochRng.shuffle(Array.from({ length: images }, (_, i) => i)));
      const chosen = items.slice(stepInEpoch * opts.batchSize, (stepInEpoch + 1) * opts.batchSize);
      const batchImages = new Float32Array(chosen.length * plane);
      for (let k = 0; k < chosen.length; k++) {
        const patient = await datasetGet(dataset, eligible[Math.floor(chosen[k] / config.phases)]);
        const phase = chosen[k] % config.phases;
        batchImages.set(patient.x.subarray(phase * plane, (phase + 1) * plane), k * plane);
      }
      if (opts.flips)
        flipImagesInPlace(batchImages, chosen.length, config.imageSize, config.inChannels, epochRng);
      const mask = randomPatchMask(epochRng, chosen.length, grid, config.maskRatio);
      return {
        images: chosen.length,
        spec: {
          stage: 'ssl',
          batch: { images: batchImages, mask, count: chosen.length },
          weighting: opts.weighting,
        },
        run: (optimizer, lr) =>
          sslStep(model, optimizer, { images: batchImages, mask, count: chosen.length }, opts.weighting, lr),
      };
    },
    rng,
  );
}

/**
 * Stage 2: supervised fine-tuning of encoder + attention head on labelled training patients,
 * with class-balanced BCE and light augmentation. Works from SSL weights or, for the paper's
 * no-SSL ablation, from a freshly initialised model.
 */
export async function trainFinetune(
  model: PhccModel,
  dataset: PatientDataset,
  options: Partial<FinetuneTrainOptions> = {},
  onProgress?: ProgressCallback,
): Promise<TrainHistory> {
  const opts: FinetuneTrainOptions = { ...DEFAULT_FINETUNE_OPTIONS, ...options };
  const { config } = model;
  const rng = new Rng(opts.seed);
  const eligible = await selectPatients(dataset, isFinetunePatient, model);
  const labels = new Map<number, 0 | 1>();
  for (const index of eligible) labels.set(index, (await datasetGet(dataset, index)).label as 0 | 1);
  const positives = [...labels.values()].filter((y) => y === 1).length;
  const negatives = eligible.length - positives;
  if (positives === 0 || negatives === 0) {
    throw new InputError(
      `fine-tune: the training split needs both classes (got ${positives} proliferative, ${negatives} not)`,
    );
  }
  const classWeights = opts.classWeights ?? balancedClassWeights(positives, negatives);
  const dpSgd = opts.dpSgd;
  if (dpSgd) {
    checkDpSgdOptions(dpSgd);
    // A replica executor would run the plain step: per-patient clipping happens in-process only.
    if (opts.executor) throw new InputError('fine-tune: DP-SGD runs in one process; drop --workers');
  }
  const noise = dpSgd && (dpSgd.noise ?? secureNormalNoise());
  const clippedCount = { clipped: 0, patients: 0 };
  if (opts.centerTokens) await initTokenCenter(model, dataset, eligible);
  const patientSize = config.phases * config.imageSize * config.imageSize * config.inChannels;
  const stepsPerEpoch = Math.ceil(eligible.length / opts.batchSize);
  const layout = {
    phases: config.phases,
    size: config.imageSize,
    channels: config.inChannels,
    intensityChannels: config.intensityChannels,
  };
  const history = await runEpochs(
    'finetune',
    model,
    opts,
    stepsPerEpoch,
    onProgress,
    async (epochRng, stepInEpoch, order, epoch) => {
      const items = order(() => epochRng.shuffle([...eligible]));
      const chosen = items.slice(stepInEpoch * opts.batchSize, (stepInEpoch + 1) * opts.batchSize);
      const patients = new Float32Array(chosen.length * patientSize);
      const batchLabels = new Float32Array(chosen.length);
      const times: Array<PatientSample['phaseTimes']> = [];
      for (let k = 0; k < chosen.length; k++) {
        const patient = await datasetGet(dataset, chosen[k]);
        patients.set(augmentPatient(patient.x, layout, epochRng, opts.augment), k * patientSize);
        batchLabels[k] = labels.get(chosen[k]) as number;
        times.push(patient.phaseTimes);
      }
      const dynamicScale = batchDynamicScales(config.phases, config.phaseTimes, times);
      const batch = {
        patients,
        labels: batchLabels,
        count: chosen.length,
        ...(dynamicScale && { dynamicScale }),
      };
      const freezeEncoder = epoch <= opts.freezeEncoderEpochs;
      return {
        images: chosen.length * config.phases,
        encoderFrozen: freezeEncoder,
        spec: {
          stage: 'finetune',
          batch,
          options: { classWeights, freezeEncoder, encoderLrScale: opts.encoderLrScale },
        },
        run: (optimizer, lr) => {
          const stepOptions = { classWeights, freezeEncoder, encoderLrScale: opts.encoderLrScale };
          if (!dpSgd || !noise) return finetuneStep(model, optimizer, batch, stepOptions, lr);
          const result = dpSgdFinetuneStep(model, optimizer, batch, stepOptions, dpSgd, noise, lr);
          clippedCount.clipped += result.clipped;
          clippedCount.patients += result.count;
          return result;
        },
      };
    },
    rng,
  );
  if (dpSgd) {
    history.dpSgd = {
      clip: dpSgd.clip,
      noiseMultiplier: dpSgd.noiseMultiplier,
      batchSize: opts.batchSize,
      trainPatients: eligible.length,
      clippedShare: clippedCount.patients ? clippedCount.clipped / clippedCount.patients : 0,
    };
  }
  return history;
}

/**
 * Sets `head/token_center` (when the model has one) to the mean pooled feature over the given
 * patients' phases, un-augmented: one forward pass of the encoder, no gradients.
 */
export async function initTokenCenter(
  model: PhccModel,
  dataset: PatientDataset,
  indices: readonly number[],
  batchSize = 8,
): Promise<void> {
  if (!model.params.has(TOKEN_CENTER) || indices.length === 0) return;
  const { config } = model;
  const { phases: t, imageSize: s, inChannels: c } = config;
  const patientSize = t * s * s * c;
  let sum: Float64Array | undefined;
  for (let start = 0; start < indices.length; start += batchSize) {
    const chunk = indices.slice(start, start + batchSize);
    const batch = new Float32Array(chunk.length * patientSize);
    for (let k = 0; k < chunk.length; k++)
      batch.set((await datasetGet(dataset, chunk[k])).x, k * patientSize);
    const pooled = tf.tidy(() =>
      tf.sum(model.pooledFeatures(tf.tensor4d(batch, [chunk.length * t, s, s, c])), 0),
    );
    const values = await pooled.data();
    pooled.dispose();
    sum ??= new Float64Array(values.length);
    for (let i = 0; i < values.length; i++) sum[i] += values[i];
  }
  const count = indices.length * t;
  const mean = Float32Array.from(sum as Float64Array, (v) => v / count);
  const center = model.params.get(TOKEN_CENTER);
  tf.tidy(() => center.assign(tf.tensor(mean, center.shape)));
}

/** Probabilities P(proliferative) for each patient, in order. */
export async function predict(
  model: PhccModel,
  dataset: PatientDataset,
  batchSize = 8,
): Promise<Float32Array> {
  const n = datasetSize(dataset);
  const { config } = model;
  const patientSize = config.phases * config.imageSize * config.imageSize * config.inChannels;
  const out = new Float32Array(n);
  for (let start = 0; start < n; start += batchSize) {
    const count = Math.min(batchSize, n - start);
    const batch = new Float32Array(count * patientSize);
    const times: Array<PatientSample['phaseTimes']> = [];
    for (let k = 0; k < count; k++) {
      const patient = await datasetGet(dataset, start + k);
      checkPatient(patient, patientSize);
      batch.set(patient.x, k * patientSize);
      times.push(patient.phaseTimes);
    }
    const scales = batchDynamicScales(config.phases, config.phaseTimes, times);
    const probabilities = tf.tidy(() =>
      tf.sigmoid(
        model.logits(
          tf.tensor5d(batch, [count, config.phases, config.imageSize, config.imageSize, config.inChannels]),
          scales && tf.tensor2d(scales, [count, config.phases - 1]),
        ),
      ),
    );
    out.set(await probabilities.data(), start);
    probabilities.dispose();
  }
  return out;
}

async function selectPatients(
  dataset: PatientDataset,
  keep: (sample: PatientSample) => boolean,
  model: PhccModel,
): Promise<number[]> {
  const { config } = model;
  const patientSize = config.phases * config.imageSize * config.imageSize * config.inChannels;
  const indices: number[] = [];
  for (let i = 0; i < datasetSize(dataset); i++) {
    const sample = await datasetGet(dataset, i);
    checkPatient(sample, patientSize);
    if (keep(sample)) indices.push(i);
  }
  return indices;
}

function checkPatient(sample: PatientSample, patientSize: number): void {
  if (sample.x.length !== patientSize) {
    throw new InputError(
      `patient ${sample.id}: ${sample.x.length} values, the model expects ${patientSize} ` +
        '(phases × size × size × channels)',
    );
  }
}

interface PreparedStep {
  images: number;
  encoderFrozen?: boolean;
  /** The same step as data, for `opts.executor`. */
  spec: StepSpec;
  run: (optimizer: Optimizer, lr: number) => StepResult;
}

type PrepareStep = (
  epochRng: Rng,
  stepInEpoch: number,
  /** Computes the epoch's order once (first step) and returns it on later steps. */
  order: <T>(make: () => T[]) => T[],
  epoch: number,
) => Promise<PreparedStep>;

/** The shared epoch/step/schedule/progress loop of both stages. */
async function runEpochs(
  stage: TrainingStage,
  model: PhccModel,
  opts: CommonTrainOptions,
  stepsPerEpoch: number,
  onProgress: ProgressCallback | undefined,
  prepare: PrepareStep,
  rng: Rng,
): Promise<TrainHistory> {
  if (!(opts.epochs >= 1) || !Number.isInteger(opts.epochs))
    throw new InputError(`${stage}: epochs must be a positive integer`);
  const optimizer =
    opts.optimizer ?? new AdamW(model.params, { weightDecay: opts.weightDecay, clipNorm: opts.clipNorm });
  const totalSteps = opts.epochs * stepsPerEpoch;
  const placement = opts.schedule ?? { startEpoch: 0, totalEpochs: opts.epochs };
  if (
    !Number.isInteger(placement.startEpoch) ||
    placement.startEpoch < 0 ||
    placement.startEpoch + opts.epochs > placement.totalEpochs
  ) {
    throw new InputError(
      `${stage}: epochs ${placement.startEpoch + 1}–${placement.startEpoch + opts.epochs} do not fit a schedule of ${placement.totalEpochs}`,
    );
  }
  const firstStep = placement.startEpoch * stepsPerEpoch;
  const schedule = {
    baseLr: opts.lr,
    warmupSteps: Math.round(opts.warmupEpochs * stepsPerEpoch),
    totalSteps: placement.totalEpochs * stepsPerEpoch,
  };
  const history: TrainHistory = { stage, epochLosses: [], steps: 0, images: 0, seconds: 0 };
  const started = Date.now();
  try {
    for (let epoch = 1; epoch <= opts.epochs; epoch++) {
      const epochRng = rng.fork();
      let cachedOrder: unknown[] | undefined;
      const order = <T>(make: () => T[]): T[] => (cachedOrder ??= make()) as T[];
      let lossSum = 0;
      for (let step = 1; step <= stepsPerEpoch; step++) {
        if (opts.signal?.aborted) return finish();
        const prepared = await prepare(epochRng, step - 1, order, epoch);
        const lr = cosineLr(firstStep + history.steps, schedule);
        const { loss } = opts.executor
          ? await opts.executor.run(model, prepared.spec, optimizer, lr)
          : prepared.run(optimizer, lr);
        if (!Number.isFinite(loss))
          throw new Error(`${stage}: loss became ${loss} at epoch ${epoch} step ${step}`);
        history.steps += 1;
        history.images += prepared.images;
        lossSum += loss;
        const elapsed = (Date.now() - started) / 1000;
        onProgress?.({
          stage,
          epoch,
          epochs: opts.epochs,
          step,
          stepsPerEpoch,
          globalStep: history.steps,
          totalSteps,
          loss,
          epochLoss: lossSum / step,
          lr,
          imagesPerSec: elapsed > 0 ? history.images / elapsed : 0,
          etaSec: (elapsed / history.steps) * (totalSteps - history.steps),
          encoderFrozen: prepared.encoderFrozen,
        });
        // Let sockets, timers and progress bars run between steps.
        await new Promise((resolve) => setImmediate(resolve));
      }
      history.epochLosses.push(lossSum / stepsPerEpoch);
    }
    return finish();
  } finally {
    if (!opts.optimizer) optimizer.dispose();
  }

  function finish(): TrainHistory {
    history.seconds = (Date.now() - started) / 1000;
    return history;
  }
}
