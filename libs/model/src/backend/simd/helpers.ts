import type { TensorInfo } from '@tensorflow/tfjs-core';
import { HELPERS_WAT } from './helpers-wat';

/** The compiled helpers, called with byte offsets into the tfjs-wasm heap. */
export interface SimdHelpers {
  toChannelMajor(src: number, dst: number, pixels: number, channels: number): void;
  im2colT(
    xT: number,
    dst: number,
    n: number,
    b0: number,
    nb: number,
    h: number,
    w: number,
    cin: number,
    ho: number,
    wo: number,
    kh: number,
    kw: number,
    sh: number,
    sw: number,
    padT: number,
    padL: number,
  ): void;
  sumRows(src: number, dst: number, scratch: number, outer: number, rows: number, cols: number): void;
  interleavePhase(
    src: number,
    dst: number,
    batch: number,
    mh: number,
    mw: number,
    ch: number,
    inH: number,
    inW: number,
    sh: number,
    sw: number,
    ry: number,
    rx: number,
  ): void;
  fillZero(dst: number, count: number): void;
}

/** The parts of tfjs-backend-wasm's BackendWasm the helpers need (not exported typed by tfjs). */
interface WasmBackendInternals {
  wasm?: { asm?: { memory?: unknown } };
  getMemoryOffset(dataId: object): number;
}

/**
 * Off switch: `PHCC_WASM_HELPERS=0` (or tests setting `enabled`) makes the kernels take their
 * plain-JS paths, so both stay tested and a helper bug can be ruled out in the field.
 */
export const simdHelperSwitch = { enabled: process.env.PHCC_WASM_HELPERS !== '0' };

/** The slice of the WebAssembly JS API used here (this project's TS lib has no WebAssembly types). */
interface WebAssemblyApi {
  Memory: abstract new (...args: never[]) => object;
  compile(bytes: Uint8Array): Promise<object>;
  instantiate(module: object, imports: object): Promise<{ exports: object }>;
}
const WebAssembly = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;

let compiled: Promise<object> | undefined;
const instances = new WeakMap<object, SimdHelpers>();

async function compile(): Promise<object> {
  // wabt is an emscripten module: a factory that resolves to the assembler.
  const wabtFactory = (await import('wabt')).default;
  const wabt = await wabtFactory();
  const parsed = wabt.parseWat('phcc-helpers.wat', HELPERS_WAT, { simd: true });
  try {
    const { buffer } = parsed.toBinary({});
    return await WebAssembly.compile(buffer);
  } finally {
    parsed.destroy();
  }
}

/**
 * Compiles the helpers (once per thread) and instantiates them on `backend`'s memory. Returns
 * false, leaving the JS paths in use, when that memory is not reachable (a tfjs-wasm whose
 * internals differ from 4.22) or the engine lacks wasm SIMD; `reason` says which.
 */
export async function loadSimdHelpers(backend: unknown): Promise<{ loaded: boolean; reason?: string }> {
  const internals = backend as WasmBackendInternals;
  if (instances.has(internals)) return { loaded: true };
  const memory = internals.wasm?.asm?.memory;
  if (!(memory instanceof WebAssembly.Memory) || typeof internals.getMemoryOffset !== 'function') {
    return {
      loaded: false,
      reason: 'the tfjs-wasm heap is not reachable (unexpected tfjs-backend-wasm internals)',
    };
  }
  try {
    compiled ??= compile();
    const instance = await WebAssembly.instantiate(await compiled, { env: { memory } });
    instances.set(internals, instance.exports as unknown as SimdHelpers);
    return { loaded: true };
  } catch (err) {
    compiled = undefined;
    return { loaded: false, reason: `wasm SIMD helpers failed to load: ${String(err)}` };
  }
}

/** The helpers for this backend, if loaded and switched on. */
export function simdHelpers(backend: unknown): SimdHelpers | undefined {
  return simdHelperSwitch.enabled ? instances.get(backend as object) : undefined;
}

/** Byte offset of a tensor's data in the wasm heap. */
export function heapPointer(backend: unknown, x: TensorInfo): number {
  return (backend as WasmBackendInternals).getMemoryOffset(x.dataId);
}
