import { InputError } from '../../../common/src';
import type { NoiseSource } from '../../../federated/src/privacy/dp/gaussian';
import type { NamedArray } from '../../../weights/src';
import { PhccModel } from '../network/model';
import { ModelPart } from '../network/params';
import type { Optimizer } from './optimizer';
import {
  computeGradients,
  encoderLrScaler,
  FinetuneBatch,
  finetuneBatchLoss,
  FinetuneLossOptions,
  FinetuneStepOptions,
  StepResult,
  trainableParts,
} from './steps';

/**
 * Record-level DP-SGD (Abadi et al. 2016) for the fine-tune stage: every patient's gradient is
 * clipped to L2 norm `clip` over all trained parameters, the clipped gradients are summed, and
 * N(0, (noiseMultiplier·clip)²) is added to every coordinate before dividing by the batch size.
 * One patient then moves the step by at most `clip`/batch, and the noise hides that move: the
 * RDP accountant's subsampled Gaussian (q = batch/n, σ = noiseMultiplier) bounds what the
 * trained weights reveal about any one patient, also to the site itself.
 */
export interface DpSgdOptions {
  /** Per-patient L2 bound C over all trained parameters. */
  clip: number;
  /** σ: the summed gradient gets noise of standard deviation σ·C per coordinate (0 = clip only). */
  noiseMultiplier: number;
}

/** A clear one-line error for a bad setting, naming it. */
export function checkDpSgdOptions(options: DpSgdOptions): void {
  if (!(options.clip > 0) || !Number.isFinite(options.clip))
    throw new InputError(`DP-SGD clip must be a finite number > 0 (got ${options.clip})`);
  if (!(options.noiseMultiplier >= 0) || !Number.isFinite(options.noiseMultiplier))
    throw new InputError(
      `DP-SGD noise multiplier must be a finite number ≥ 0 (got ${options.noiseMultiplier})`,
    );
}

export interface DpSgdGradients {
  /** Mean of the patients' losses (= the batch loss of the plain step). */
  loss: number;
  /** (Σ clip(g_i) + noise) / batch, per trained parameter. */
  grads: NamedArray[];
  /** Each patient's gradient norm before clipping, in batch order. */
  exampleNorms: number[];
  /** How many of them were scaled down to `clip`. */
  clipped: number;
}

/** Patient `index` of a batch as a batch of one (views, no copies). */
function examplePatient(batch: FinetuneBatch, index: number): FinetuneBatch {
  const size = batch.patients.length / batch.count;
  const scaleSize = batch.dynamicScale ? batch.dynamicScale.length / batch.count : 0;
  return {
    patients: batch.patients.subarray(index * size, (index + 1) * size),
    labels: batch.labels.subarray(index, index + 1),
    count: 1,
    ...(batch.dynamicScale && {
      dynamicScale: batch.dynamicScale.subarray(index * scaleSize, (index + 1) * scaleSize),
    }),
  };
}

/**
 * The privatised gradient of a fine-tune batch. tfjs has no per-example gradients (no vmap, no
 * layer hooks for ghost clipping), so each patient runs as a microbatch of one: the cost is the
 * batch's backward pass split into `count` passes, measured by `bench model` (docs/PRIVACY.md).
 * The per-patient loss is the plain step's loss on a batch of one; `balancedBce` averages over
 * patients, so Σ g_i / count is exactly the plain batch gradient when nothing is clipped.
 */
export function dpSgdGradients(
  model: PhccModel,
  batch: FinetuneBatch,
  options: FinetuneLossOptions,
  parts: readonly ModelPart[],
  dp: DpSgdOptions,
  noise: NoiseSource,
): DpSgdGradients {
  checkDpSgdOptions(dp);
  if (batch.count < 1) throw new InputError('DP-SGD needs a batch of at least one patient');
  let sum: NamedArray[] | undefined;
  let lossSum = 0;
  let clipped = 0;
  const exampleNorms: number[] = [];
  for (let i = 0; i < batch.count; i++) {
    const { loss, grads } = computeGradients(
      model,
      finetuneBatchLoss(model, examplePatient(batch, i), options),
      parts,
    );
    let squares = 0;
    for (const g of grads) for (let k = 0; k < g.values.length; k++) squares += g.values[k] * g.values[k];
    const norm = Math.sqrt(squares);
    if (!Number.isFinite(norm))
      throw new Error(`DP-SGD: patient ${i} of the batch has a non-finite gradient`);
    const factor = norm > dp.clip ? dp.clip / norm : 1;
    if (factor < 1) clipped += 1;
    exampleNorms.push(norm);
    lossSum += loss;
    if (!sum) {
      sum = grads.map((g) => ({ name: g.name, shape: g.shape, values: new Float32Array(g.values.length) }));
    }
    grads.forEach((g, p) => {
      const into = (sum as NamedArray[])[p].values;
      for (let k = 0; k < into.length; k++) into[k] += factor * g.values[k];
    });
  }
  const sd = dp.noiseMultiplier * dp.clip;
  const grads = sum as NamedArray[];
  for (const g of grads) {
    const values = g.values;
    for (let k = 0; k < values.length; k++)
      values[k] = (values[k] + (sd > 0 ? noise.normal(0, sd) : 0)) / batch.count;
  }
  return { loss: lossSum / batch.count, grads, exampleNorms, clipped };
}

export interface DpSgdStepResult extends StepResult {
  /** Patients of this batch whose gradient was clipped. */
  clipped: number;
  count: number;
}

/** One DP-SGD fine-tune step: the privatised gradient, then the usual optimiser update. */
export function dpSgdFinetuneStep(
  model: PhccModel,
  optimizer: Optimizer,
  batch: FinetuneBatch,
  options: FinetuneStepOptions,
  dp: DpSgdOptions,
  noise: NoiseSource,
  lr: number,
): DpSgdStepResult {
  const parts = trainableParts('finetune', options.freezeEncoder);
  const { loss, grads, clipped } = dpSgdGradients(model, batch, options, parts, dp, noise);
  const arrays = new Map(grads.map((g) => [g.name, g.values]));
  const gradNorm = optimizer.applyArrays(arrays, lr, encoderLrScaler(options.encoderLrScale ?? 1));
  return { loss, gradNorm, clipped, count: batch.count };
}
