import * as tf from '@tensorflow/tfjs-core';
import type { NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import { heapPointer } from './simd/helpers';

/**
 * Runs the wasm backend's own kernels directly (no engine, no tape) and frees every intermediate
 * when the replacement kernel is done. Replacement kernels are built from these calls the way
 * tfjs's own composite kernels are: going through `tf.*` ops from inside a kernel would record
 * the intermediates on an active gradient tape and leak engine-tracked tensors.
 */
export class WasmOps {
  private readonly temps: TensorInfo[] = [];

  readonly backend: tf.KernelBackend;

  /** `backend` as a KernelFunc receives it (typed `{}` by tfjs). */
  constructor(backend: unknown) {
    this.backend = backend as tf.KernelBackend;
  }

  run(kernelName: string, inputs: Record<string, TensorInfo> | TensorInfo[], attrs: object = {}): TensorInfo {
    const kernel = tf.getKernel(kernelName, 'wasm');
    if (!kernel) throw new Error(`wasm kernel ${kernelName} is not registered`);
    return this.runFunc(kernelName, kernel.kernelFunc, inputs, attrs);
  }

  /** Runs a specific kernel function, e.g. the wasm original that a replacement wraps. */
  runFunc(
    kernelName: string,
    kernelFunc: tf.KernelFunc,
    inputs: Record<string, TensorInfo> | TensorInfo[],
    attrs: object = {},
  ): TensorInfo {
    const started = innerTimes ? performance.now() : 0;
    const out = kernelFunc({
      // Pack and Concat take their inputs as an array, as tfjs's own ops pass them.
      inputs: inputs as Record<string, TensorInfo>,
      attrs: attrs as NamedAttrMap,
      backend: this.backend,
    }) as TensorInfo;
    if (innerTimes)
      innerTimes.set(kernelName, (innerTimes.get(kernelName) ?? 0) + performance.now() - started);
    this.temps.push(out);
    return out;
  }

  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }

  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    return this.run('Transpose', { x }, { perm });
  }

  slice(x: TensorInfo, begin: number[], size: number[]): TensorInfo {
    if (begin.every((b) => b === 0) && size.every((s, i) => s === x.shape[i])) return x;
    return this.run('Slice', { x }, { begin, size });
  }

  pad(x: TensorInfo, paddings: [number, number][]): TensorInfo {
    if (paddings.every(([a, b]) => a === 0 && b === 0)) return x;
    return this.run('PadV2', { x }, { paddings, constantValue: 0 });
  }

  zeros(shape: number[]): TensorInfo {
    return this.run('Fill', {}, { shape, value: 0, dtype: 'float32' });
  }

  /** A new wasm tensor holding `values` (for small tensors prepared in JS, e.g. filters). */
  fromValues(shape: number[], values: Float32Array): TensorInfo {
    const out = this.wasm.makeOutput(shape, 'float32', undefined, values);
    this.temps.push(out);
    return out;
  }

  /** A new, uninitialised float32 wasm tensor. */
  empty(shape: number[]): TensorInfo {
    const out = this.wasm.makeOutput(shape, 'float32');
    this.temps.push(out);
    return out;
  }

  /** A tensor's values (a copy). */
  read(x: TensorInfo): Float32Array {
    return this.backend.readSync(x.dataId) as Float32Array;
  }

  /**
   * A live view of a tensor's wasm memory. Valid only until the next allocation (the heap may
   * grow and detach it), so take views after creating every tensor the loop needs.
   */
  view(x: TensorInfo): Float32Array {
    return this.wasm.typedArrayFromHeap(x);
  }

  /** Byte offset of a tensor's data in the wasm heap (for the SIMD helpers). */
  pointer(x: TensorInfo): number {
    return heapPointer(this.backend, x);
  }

  /** Frees an intermediate before `finish`, to bound peak memory in chunked loops. */
  dispose(x: TensorInfo): void {
    const at = this.temps.indexOf(x);
    if (at < 0) throw new Error('WasmOps.dispose: not an intermediate of this kernel');
    this.temps.splice(at, 1);
    this.backend.disposeData(x.dataId);
  }

  private get wasm(): WasmBackendMemory {
    return this.backend as unknown as WasmBackendMemory;
  }

  /** Hands `out` to the caller and frees every other intermediate. */
  finish(out: TensorInfo): TensorInfo {
    return this.finishAll([out])[0];
  }

  /** Hands several outputs to the caller (a kernel with more than one) and frees the rest. */
  finishAll(outs: TensorInfo[]): TensorInfo[] {
    for (const t of this.temps) {
      if (!outs.includes(t)) this.backend.disposeData(t.dataId);
    }
    this.temps.length = 0;
    return outs;
  }
}

/** The parts of tfjs-backend-wasm's BackendWasm used here (its class is not re-exported typed). */
interface WasmBackendMemory {
  makeOutput(shape: number[], dtype: 'float32', memoryOffset?: number, values?: Float32Array): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array;
}

let innerTimes: Map<string, number> | undefined;

/**
 * Starts (or stops, with false) timing the wasm kernels that replacement kernels call
 * internally, so a profile can say where their time goes. Returns the times so far (ms by kernel).
 */
export function timeInnerKernels(on: boolean): Map<string, number> {
  const times = innerTimes ?? new Map<string, number>();
  innerTimes = on ? times : undefined;
  return times;
}
