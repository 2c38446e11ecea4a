/**
 * One preprocessed patient as libs/imaging produces it: `x` holds T phase crops, NHWC per phase,
 * i.e. a Float32Array laid out [T, S, S, C] (C = intensity slices + tumour-mask channel).
 */
export interface PatientSample {
  id: string;
  /** 1 = proliferative, 0 = not, null = unknown (SSL only). */
  label: 0 | 1 | null;
  split: 'train' | 'val' | 'test' | string;
  x: Float32Array;
  /** Seconds after injection of each phase as the model takes them, when known (dynamic tokens). */
  phaseTimes?: readonly number[] | null;
}

/** A dataset too large to hold at once: fetched patient by patient (e.g. from a cache on disk). */
export interface PatientSource {
  readonly size: number;
  get(index: number): PatientSample | Promise<PatientSample>;
}

export type PatientDataset = readonly PatientSample[] | PatientSource;

export function datasetSize(dataset: PatientDataset): number {
  return isSource(dataset) ? dataset.size : dataset.length;
}

export async function datasetGet(dataset: PatientDataset, index: number): Promise<PatientSample> {
  return isSource(dataset) ? dataset.get(index) : dataset[index];
}

function isSource(dataset: PatientDataset): dataset is PatientSource {
  return !Array.isArray(dataset);
}

export type TrainingStage = 'ssl' | 'finetune';

/** Reported after every step, so the CLI can draw progress bars and the agent can log. */
export interface TrainProgress {
  stage: TrainingStage;
  /** 1-based epoch. */
  epoch: number;
  epochs: number;
  /** 1-based step within the epoch. */
  step: number;
  stepsPerEpoch: number;
  /** 1-based step over the whole run. */
  globalStep: number;
  totalSteps: number;
  loss: number;
  /** Mean loss over the epoch so far. */
  epochLoss: number;
  lr: number;
  /** Phase images through the encoder per second (wall clock, this run). */
  imagesPerSec: number;
  etaSec: number;
  /** True while a fine-tune warm-up keeps the encoder frozen. */
  encoderFrozen?: boolean;
}

export type ProgressCallback = (progress: TrainProgress) => void;

export interface TrainHistory {
  stage: TrainingStage;
  epochLosses: number[];
  steps: number;
  images: number;
  seconds: number;
  /**
   * Set when the fine-tune ran DP-SGD: what the record-level accountant needs (q = batchSize /
   * trainPatients, one step per batch) and the share of patient gradients that were clipped.
   */
  dpSgd?: {
    clip: number;
    noiseMultiplier: number;
    batchSize: number;
    trainPatients: number;
    clippedShare: number;
  };
}
