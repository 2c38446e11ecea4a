import * as tf from '@tensorflow/tfjs-core';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError, packageVersion } from '../../../common/src';
import { ModelConfig, validateModelConfig } from '../network/config';
import { PhccModel } from '../network/model';
import { MODEL_PARTS, ModelPart } from '../network/params';
import { FileSystemIOHandler, writeAtomically } from './fs-handler';

export const PHCC_MODEL_JSON = 'phcc-model.json';
export const PHCC_MODEL_FORMAT = 'phcc-ssl';
export const PHCC_MODEL_VERSION = 1;

/**
 * What a saved model needs besides its weights to be used correctly: the network config, which
 * parameter belongs to which part (what a federated strategy selects), which are normalisation
 * parameters (what FedBN keeps local), and the preprocessing the inputs must go through.
 */
export interface PhccModelMetadata {
  format: typeof PHCC_MODEL_FORMAT;
  version: number;
  config: ModelConfig;
  parts: Record<ModelPart, string[]>;
  normParameters: string[];
  /** Which stage produced the weights ('init' | 'ssl' | 'finetune'), and free-form run facts. */
  stage?: string;
  /** Intensity normalisation (per site / per phase statistics, method, version) from libs/imaging. */
  preprocessing?: Record<string, unknown>;
  /** Anything else worth keeping with the weights (run id, round, seed, metrics). */
  extra?: Record<string, unknown>;
  savedAt: string;
  generatedBy: string;
}

export interface SaveModelOptions {
  stage?: string;
  preprocessing?: Record<string, unknown>;
  extra?: Record<string, unknown>;
}

/**
 * Writes `dir/model.json` + `dir/weights.bin` (TF.js layout, weights under their stable names)
 * and `dir/phcc-model.json`. Returns the metadata written.
 */
export async function saveModel(
  model: PhccModel,
  dir: string,
  options: SaveModelOptions = {},
): Promise<PhccModelMetadata> {
  const names = model.params.names();
  const { data, specs } = await tf.io.encodeWeights(
    names.map((name) => ({ name, tensor: model.params.get(name) })),
  );
  const metadata: PhccModelMetadata = {
    format: PHCC_MODEL_FORMAT,
    version: PHCC_MODEL_VERSION,
    config: model.config,
    parts: Object.fromEntries(
      MODEL_PARTS.map((part) => [part, model.params.names({ parts: [part] })]),
    ) as Record<ModelPart, string[]>,
    normParameters: model.params
      .list()
      .filter((info) => info.isNorm)
      .map((info) => info.name),
    stage: options.stage,
    preprocessing: options.preprocessing,
    extra: options.extra,
    savedAt: new Date().toISOString(),
    generatedBy: `phcc-fed ${packageVersion()}`,
  };
  await new FileSystemIOHandler(dir).save({
    modelTopology: { className: 'PhccSsl', config: model.config },
    format: PHCC_MODEL_FORMAT,
    generatedBy: metadata.generatedBy,
    convertedBy: null,
    weightSpecs: specs,
    weightData: data,
  });
  writeAtomically(join(dir, PHCC_MODEL_JSON), JSON.stringify(metadata, null, 2) + '\n');
  return metadata;
}

/**
 * Share of proliferative patients among the labelled training patients, stored in `extra` by
 * `train` and `models export --prevalence`. The class-balanced loss calibrates the model's outputs
 * to a 50 % prior; with this prevalence they can be recalibrated to a risk (libs/metrics
 * `shiftPrior`). Undefined when unknown: outputs are then balanced scores, not probabilities.
 */
export const TRAINING_PREVALENCE = 'trainingPrevalence';

export function trainingPrevalenceOf(metadata: PhccModelMetadata): number | undefined {
  const v = metadata.extra?.[TRAINING_PREVALENCE];
  return typeof v === 'number' && v > 0 && v < 1 ? v : undefined;
}

export function readModelMetadata(dir: string): PhccModelMetadata {
  const path = join(dir, PHCC_MODEL_JSON);
  if (!existsSync(path))
    throw new InputError(`${path}: not found (is ${dir} a phcc-fed model directory?)`, 'BAD_MODEL');
  let metadata: PhccModelMetadata;
  try {
    metadata = JSON.parse(readFileSync(path, 'utf8')) as PhccModelMetadata;
  } catch (err) {
    throw new InputError(`${path}: invalid JSON (${(err as Error).message})`, 'BAD_MODEL');
  }
  if (metadata.format !== PHCC_MODEL_FORMAT)
    throw new InputError(`${path}: format is not ${PHCC_MODEL_FORMAT}`, 'BAD_MODEL');
  if (metadata.version > PHCC_MODEL_VERSION) {
    throw new InputError(
      `${path}: model format version ${metadata.version} is newer than this phcc-fed reads`,
      'BAD_MODEL',
    );
  }
  // Models saved before token pooling was configurable pooled the whole crop.
  if (metadata.config && metadata.config.tokenPooling === undefined) {
    metadata.config = { ...metadata.config, tokenPooling: 'global' };
  }
  validateModelConfig(metadata.config);
  return metadata;
}

/** Builds the model described by `dir/phcc-model.json` and loads its weights (all must match). */
export async function loadModel(dir: string): Promise<{ model: PhccModel; metadata: PhccModelMetadata }> {
  const metadata = readModelMetadata(dir);
  const model = new PhccModel(metadata.config);
  try {
    await loadWeightsInto(model, dir);
  } catch (err) {
    model.dispose();
    throw err;
  }
  return { model, metadata };
}

/**
 * Loads weights from a TF.js model directory into an existing model. `parts` limits what is
 * taken (e.g. only the encoder of an SSL checkpoint for fine-tuning); names outside the model
 * are an error, so a checkpoint of a different architecture cannot half-load silently.
 */
export async function loadWeightsInto(
  model: PhccModel,
  dir: string,
  options: { parts?: readonly ModelPart[] } = {},
): Promise<void> {
  const artifacts = await new FileSystemIOHandler(dir).load();
  const tensors = tf.io.decodeWeights(artifacts.weightData as ArrayBuffer, artifacts.weightSpecs ?? []);
  try {
    const arrays = Object.entries(tensors).map(([name, tensor]) => {
      if (tensor.dtype !== 'float32')
        throw new InputError(`${dir}: weight ${name} is ${tensor.dtype}, not float32`, 'BAD_MODEL');
      return { name, shape: [...tensor.shape], values: Float32Array.from(tensor.dataSync() as Float32Array) };
    });
    const unknown = arrays.filter((a) => !model.params.has(a.name)).map((a) => a.name);
    if (unknown.length > 0) {
      throw new InputError(
        `${dir}: weights not in this model: ${unknown.slice(0, 5).join(', ')}`,
        'BAD_MODEL',
      );
    }
    const selected = options.parts
      ? arrays.filter((a) => options.parts?.includes(model.params.info(a.name).part))
      : arrays;
    model.params.setWeights(selected, { parts: options.parts, strict: true });
  } finally {
    Object.values(tensors).forEach((t) => t.dispose());
  }
}
