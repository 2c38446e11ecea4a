import * as tf from '@tensorflow/tfjs-core';
import { InputError, Rng } from '../../../common/src';
import type { NamedArray } from '../../../weights/src';

/** Which part of the network a weight belongs to; strategies select parts per stage. */
export type ModelPart = 'encoder' | 'decoder' | 'head';
export const MODEL_PARTS: readonly ModelPart[] = ['encoder', 'decoder', 'head'];

export interface ParamInfo {
  name: string;
  part: ModelPart;
  /** LayerNorm / GRN scale and shift: FedBN-style strategies keep these local. */
  isNorm: boolean;
  shape: number[];
}

export interface WeightSelection {
  /** Only these parts (default: all). */
  parts?: readonly ModelPart[];
  /** Leave out normalisation parameters (FedBN keeps them local). */
  excludeNorm?: boolean;
}

export interface SetWeightsOptions extends WeightSelection {
  /**
   * When true (default), every selected parameter must be present and no unknown name may
   * appear; when false, names outside the store are ignored and missing ones keep their value.
   */
  strict?: boolean;
}

/** Truncated normal (cut at ±2 sd, as ConvNeXt's trunc_normal_) drawn from a seeded Rng. */
export function truncatedNormal(rng: Rng, size: number, std: number): Float32Array {
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    let z = rng.normal();
    while (z < -2 || z > 2) z = rng.normal();
    out[i] = z * std;
  }
  return out;
}

/**
 * Name → tf.Variable for the whole network. Names are stable strings
 * (`encoder/stage1/block0/dwconv/kernel`), never tfjs-layers' per-process counters, so weights
 * from two hospitals' processes line up by name.
 */
export class ParamStore {
  private readonly id = `phcc${nextStoreId++}`;
  private readonly vars = new Map<string, tf.Variable>();
  private readonly infos = new Map<string, ParamInfo>();

  /** Registers a variable; `init` decides its initial values (seeded by the caller's Rng). */
  add(name: string, shape: number[], init: Float32Array, options: { isNorm?: boolean } = {}): tf.Variable {
    if (this.vars.has(name)) throw new Error(`parameter ${name} defined twice`);
    const part = partOf(name);
    const size = shape.reduce((a, b) => a * b, 1);
    if (init.length !== size)
      throw new Error(`parameter ${name}: ${init.length} values for shape [${shape}]`);
    // tf.variable names are global in the engine: prefix with a store id so two models coexist.
    const initial = tf.tensor(init, shape, 'float32');
    const variable = tf.variable(initial, true, `${this.id}:${name}`);
    initial.dispose(); // the variable holds its own reference to the data
    this.vars.set(name, variable);
    this.infos.set(name, { name, part, isNorm: options.isNorm ?? false, shape: [...shape] });
    return variable;
  }

  addNormal(name: string, shape: number[], rng: Rng, std = 0.02): tf.Variable {
    return this.add(
      name,
      shape,
      truncatedNormal(
        rng,
        shape.reduce((a, b) => a * b, 1),
        std,
      ),
    );
  }

  addConstant(name: string, shape: number[], value: number, options: { isNorm?: boolean } = {}): tf.Variable {
    return this.add(name, shape, new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(value), options);
  }

  get(name: string): tf.Variable {
    const variable = this.vars.get(name);
    if (!variable) throw new Error(`no parameter named ${name}`);
    return variable;
  }

  has(name: string): boolean {
    return this.vars.has(name);
  }

  /** Parameter descriptions in definition order (a stable order for codecs and optimisers). */
  list(selection: WeightSelection = {}): ParamInfo[] {
    return [...this.infos.values()].filter((info) => selects(info, selection));
  }

  names(selection: WeightSelection = {}): string[] {
    return this.list(selection).map((info) => info.name);
  }

  variables(selection: WeightSelection = {}): tf.Variable[] {
    return this.names(selection).map((name) => this.get(name));
  }

  info(name: string): ParamInfo {
    const info = this.infos.get(name);
    if (!info) throw new Error(`no parameter named ${name}`);
    return info;
  }

  /** Number of scalar weights in the selection. */
  count(selection: WeightSelection = {}): number {
    return this.list(selection).reduce((n, info) => n + info.shape.reduce((a, b) => a * b, 1), 0);
  }

  getWeights(selection: WeightSelection = {}): NamedArray[] {
    return this.list(selection).map((info) => ({
      name: info.name,
      shape: [...info.shape],
      values: Float32Array.from(this.get(info.name).dataSync()),
    }));
  }

  /** Overwrites the selected weights; checks names and shapes before changing anything. */
  setWeights(arrays: readonly NamedArray[], options: SetWeightsOptions = {}): void {
    const strict = options.strict ?? true;
    const selected = new Set(this.names(options));
    const seen = new Set<string>();
    const updates: NamedArray[] = [];
    for (const array of arrays) {
      const info = this.infos.get(array.name);
      if (!info) {
        if (strict) throw new InputError(`weights: unknown parameter ${array.name}`, 'BAD_WEIGHTS');
        continue;
      }
      if (!selected.has(array.name)) {
        if (strict && options.parts === undefined && !options.excludeNorm) {
          throw new InputError(`weights: parameter ${array.name} not selected`, 'BAD_WEIGHTS');
        }
        continue;
      }
      if (seen.has(array.name)) throw new InputError(`weights: ${array.name} given twice`, 'BAD_WEIGHTS');
      seen.add(array.name);
      const sameShape =
        array.shape.length === info.shape.length && array.shape.every((d, i) => d === info.shape[i]);
      const size = info.shape.reduce((a, b) => a * b, 1);
      if (!sameShape || array.values.length !== size) {
        throw new InputError(
          `weights: ${array.name} has shape [${array.shape}] (${array.values.length} values), ` +
            `the model expects [${info.shape}]`,
          'BAD_WEIGHTS',
        );
      }
      updates.push(array);
    }
    if (strict) {
      const missing = [...selected].filter((name) => !seen.has(name));
      if (missing.length > 0) {
        const shown = missing.slice(0, 5).join(', ');
        throw new InputError(
          `weights: ${missing.length} parameter(s) missing (${shown}${missing.length > 5 ? ', …' : ''})`,
          'BAD_WEIGHTS',
        );
      }
    }
    for (const array of updates) {
      const values = tf.tensor(array.values, array.shape, 'float32');
      this.get(array.name).assign(values);
      values.dispose();
    }
  }

  dispose(): void {
    for (const variable of this.vars.values()) variable.dispose();
    this.vars.clear();
    this.infos.clear();
  }
}

let nextStoreId = 0;

/** The part is the first path segment of the name: one rule, no table to keep in sync. */
export function partOf(name: string): ModelPart {
  const head = name.split('/')[0];
  if ((MODEL_PARTS as readonly string[]).includes(head)) return head as ModelPart;
  throw new Error(`parameter name ${name} does not start with one of ${MODEL_PARTS.join(', ')}`);
}

function selects(info: ParamInfo, selection: WeightSelection): boolean {
  if (selection.parts && !selection.parts.includes(info.part)) return false;
  if (selection.excludeNorm && info.isNorm) return false;
  return true;
}
