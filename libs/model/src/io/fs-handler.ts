import * as tf from '@tensorflow/tfjs-core';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, normalize, sep } from 'node:path';
import { InputError } from '../../../common/src';

export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

/**
 * A tf.io.IOHandler that saves and loads the TF.js layout (model.json + binary weight shards
 * named in `weightsManifest`) on the local filesystem — what tfjs-node's `file://` handler does,
 * without depending on tfjs-node (a native binary hospitals often cannot install).
 */
export class FileSystemIOHandler implements tf.io.IOHandler {
  constructor(readonly directory: string) {}

  async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
    mkdirSync(this.directory, { recursive: true });
    const weightData = artifacts.weightData
      ? tf.io.CompositeArrayBuffer.join(artifacts.weightData)
      : new ArrayBuffer(0);
    const modelJson: tf.io.ModelJSON = {
      modelTopology: artifacts.modelTopology as object,
      format: artifacts.format,
      generatedBy: artifacts.generatedBy,
      convertedBy: artifacts.convertedBy,
      weightsManifest: [{ paths: [WEIGHTS_BIN], weights: artifacts.weightSpecs ?? [] }],
      ...(artifacts.userDefinedMetadata ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
    };
    // Weights first, manifest last, each by rename: a reader never sees a manifest without its data.
    writeAtomically(join(this.directory, WEIGHTS_BIN), Buffer.from(weightData));
    writeAtomically(join(this.directory, MODEL_JSON), JSON.stringify(modelJson, null, 1));
    return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
  }

  async load(): Promise<tf.io.ModelArtifacts> {
    const jsonPath = join(this.directory, MODEL_JSON);
    let modelJson: tf.io.ModelJSON;
    try {
      modelJson = JSON.parse(readFileSync(jsonPath, 'utf8')) as tf.io.ModelJSON;
    } catch (err) {
      throw new InputError(
        `${jsonPath}: cannot read a TF.js model.json (${(err as Error).message})`,
        'BAD_MODEL',
      );
    }
    if (!Array.isArray(modelJson.weightsManifest)) {
      throw new InputError(`${jsonPath}: no weightsManifest`, 'BAD_MODEL');
    }
    const specs: tf.io.WeightsManifestEntry[] = [];
    const buffers: ArrayBuffer[] = [];
    for (const group of modelJson.weightsManifest) {
      specs.push(...group.weights);
      for (const shard of group.paths) {
        const bytes = readFileSync(this.shardPath(shard, jsonPath));
        buffers.push(
          bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
        );
      }
    }
    const weightData = tf.io.concatenateArrayBuffers(buffers);
    const expected = specs.reduce(
      (n, s) => n + s.shape.reduce((a, b) => a * b, 1) * bytesPerElement(s.dtype),
      0,
    );
    if (weightData.byteLength !== expected) {
      throw new InputError(
        `${jsonPath}: weight files hold ${weightData.byteLength} bytes, the manifest describes ${expected}`,
        'BAD_MODEL',
      );
    }
    return {
      modelTopology: modelJson.modelTopology,
      format: modelJson.format,
      generatedBy: modelJson.generatedBy,
      convertedBy: modelJson.convertedBy,
      userDefinedMetadata: modelJson.userDefinedMetadata,
      weightSpecs: specs,
      weightData,
    };
  }

  /** Shard paths must stay inside the model directory (a model.json is untrusted input). */
  private shardPath(shard: string, jsonPath: string): string {
    const clean = normalize(shard);
    if (isAbsolute(clean) || clean.startsWith('..' + sep) || clean === '..') {
      throw new InputError(`${jsonPath}: weight path ${shard} leaves the model directory`, 'BAD_MODEL');
    }
    return join(this.directory, clean);
  }
}

function bytesPerElement(dtype: string): number {
  if (dtype === 'float32' || dtype === 'int32') return 4;
  if (dtype === 'bool' || dtype === 'uint8') return 1;
  if (dtype === 'float16' || dtype === 'uint16') return 2;
  throw new InputError(`unsupported weight dtype ${dtype}`, 'BAD_MODEL');
}

export function writeAtomically(path: string, data: string | Buffer): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}
