import type { TensorInfo } from '@tensorflow/tfjs-core';
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { IntraOpPool } from '../threads/intra-op-pool';
import { CompositeCalls, compositeCalls, SPLIT_NAMES, SplitExports, splitJob } from '../threads/split-jobs';
import { assembleSimdModule, SIMD_WASM_PREFIX, simdVariant, simdWasmDir, simdWasmFileName } from './module';

/** The compiled helpers, called with byte offsets into the tfjs-wasm heap (and the calls made of them). */
export interface SimdHelpers extends CompositeCalls, SplitExports {
  /** Whether `gemm` multiplies and adds in one FMA (relaxed SIMD), or in two instructions. */
  readonly fma: boolean;
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
  /** acc + Σ x² over count floats, in float64 and in order (simd/optimizer-wat.ts). */
  sumSquares(x: number, count: number, acc: number): number;
  /** 1 if x [pixels, c] (c % 4 = 0) is nonzero at a pixel whose keep value is 0, else 0. */
  droppedNonzero(x: number, keep: number, pixels: number, c: number): number;
  /**
   * dγ and dβ from float32 shares, `parts` of them `stride` bytes apart (2·c floats each: dγ's,
   * then dβ's), added over the parts in order in float64 (totals: 4·c floats of room): the last
   * step of LayerNorm's and GRN's gradients (simd/helpers-wat.ts).
   */
  sumShares(
    shares: number,
    dgamma: number,
    dbeta: number,
    totals: number,
    parts: number,
    c: number,
    stride: number,
  ): void;
  extractRows(
    src: number,
    dst: number,
    taps: number,
    cinPad: number,
    cin: number,
    stride: number,
    n: number,
  ): void;
}

/** The parts of tfjs-backend-wasm's BackendWasm the helpers need (not exported typed by tfjs). */
interface WasmBackendInternals {
  /** `asm.memory`: the single-threaded builds export their heap; the threaded build imports it (`wasmMemory`). */
  wasm?: { asm?: { memory?: unknown }; wasmMemory?: unknown };
  getMemoryOffset(dataId: object): number;
}

/**
 * Switches: `PHCC_WASM_HELPERS=0` (or tests setting `enabled`) makes the kernels take their
 * plain-JS paths, so both stay tested and a helper bug can be ruled out in the field;
 * `PHCC_WASM_FMA=0` (or `fma`) uses the GEMM built without relaxed SIMD; `PHCC_WASM_PREBUILT=0`
 * assembles the module from text even when the build's binaries are there (what every start did
 * before the build step: `bench startup` compares the two), read once per thread at first load.
 */
export const simdHelperSwitch = {
  enabled: process.env.PHCC_WASM_HELPERS !== '0',
  fma: process.env.PHCC_WASM_FMA !== '0',
  prebuilt: process.env.PHCC_WASM_PREBUILT !== '0',
  /** Whether helper calls are shared with the intra-op threads, when a pool was started (tests compare both). */
  intraOp: true,
};

/** The slice of the WebAssembly JS API used here (this project's TS lib has no WebAssembly types). */
interface WebAssemblyApi {
  Memory: abstract new (...args: never[]) => object;
  validate(bytes: Uint8Array): boolean;
  compile(bytes: Uint8Array): Promise<object>;
  instantiate(module: object, imports: object): Promise<{ exports: object }>;
}
const WebAssembly = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;

/** Both variants' bytes, and why they were assembled from text when they were. */
export interface SimdModuleBytes {
  plain: Uint8Array;
  fma: Uint8Array;
  /** Undefined when both came from the build; else the reason (missing, stale, switched off). */
  assembled?: string;
}

let warned = false;

/**
 * Reads the variants `npm run build` wrote to `dir`; a variant whose file for the current text
 * is absent (never built, or built from other text: the name carries the text's hash) is
 * assembled from text with wabt, with a one-line warning, so a checkout that was not rebuilt
 * still runs, only slower to start.
 */
export async function simdModuleBytes(
  dir = simdWasmDir(),
  prebuilt = simdHelperSwitch.prebuilt,
  shared = false,
): Promise<SimdModuleBytes> {
  const bytes: Partial<Record<'plain' | 'fma', Uint8Array>> = {};
  let assembled: string | undefined;
  for (const kind of ['plain', 'fma'] as const) {
    const variant = simdVariant(kind === 'fma', shared);
    const path = join(dir, simdWasmFileName(variant));
    if (prebuilt && existsSync(path)) {
      bytes[kind] = await readFile(path);
      continue;
    }
    if (!assembled) {
      assembled = prebuilt
        ? `${path} is ${builtSiblings(dir) ? 'stale' : 'missing'}`
        : 'PHCC_WASM_PREBUILT=0';
      if (prebuilt && !warned) {
        warned = true;
        process.emitWarning(
          `the SIMD helpers were not built for this source (${assembled}); assembling them from text at start-up: run \`npm run build\``,
          { code: 'PHCC_SIMD_UNBUILT' },
        );
      }
    }
    bytes[kind] = await assembleSimdModule(variant);
  }
  return { plain: bytes.plain!, fma: bytes.fma!, assembled };
}

/** Whether `dir` holds a build of some variant (then a missing current one means stale). */
function builtSiblings(dir: string): boolean {
  return existsSync(dir) && readdirSync(dir).some((n) => n.startsWith(SIMD_WASM_PREFIX));
}

interface Compiled {
  plain: object;
  fma?: object;
  /** Why there is no FMA build, when there is none. */
  noFma?: string;
  assembled?: string;
}

interface Loaded {
  plain: SimdHelpers;
  fma?: SimdHelpers;
  noFma?: string;
  assembled?: string;
  /** Intra-op threads sharing the helper calls, and the helpers that hand calls to them. */
  pool?: IntraOpPool;
  pooled?: { plain: SimdHelpers; fma?: SimdHelpers };
}

/** Compiled once per thread and heap kind (unshared, shared). */
const compiled = new Map<boolean, Promise<Compiled>>();
const instances = new WeakMap<object, Loaded>();

/**
 * Relaxed SIMD (FMA) ships enabled from Node 22 (V8 11.4); Node 20 has it behind a V8 flag,
 * which is read when a module is validated or compiled, so it is switched on only when the FMA
 * variant does not validate without it.
 */
function relaxedSimdValidates(bytes: Uint8Array): boolean {
  if (WebAssembly.validate(bytes)) return true;
  setFlagsFromString('--experimental-wasm-relaxed-simd');
  return WebAssembly.validate(bytes);
}

async function compile(shared: boolean): Promise<Compiled> {
  const { plain, fma, assembled } = await simdModuleBytes(undefined, undefined, shared);
  // The plain variant is compiled too: PHCC_WASM_FMA=0 and the gradient checks switch to it.
  if (!relaxedSimdValidates(fma)) {
    return { plain: await WebAssembly.compile(plain), noFma: 'relaxed SIMD does not validate', assembled };
  }
  const [plainModule, fmaModule] = await Promise.all([WebAssembly.compile(plain), WebAssembly.compile(fma)]);
  return { plain: plainModule, fma: fmaModule, assembled };
}

/**
 * Compiles the helpers (once per thread) and instantiates them on `backend`'s memory. Returns
 * loaded: false, leaving the JS paths in use, when that memory is not reachable (a tfjs-wasm
 * whose internals differ from 4.22) or the engine lacks wasm SIMD; `detail` says which, or
 * whether the GEMM has FMA.
 */
export async function loadSimdHelpers(
  backend: unknown,
  threads = 1,
): Promise<{ loaded: boolean; detail: string; threads: number }> {
  const internals = backend as WasmBackendInternals;
  const describe = (l: Loaded) =>
    (l.fma ? 'wasm SIMD, FMA (relaxed SIMD)' : `wasm SIMD, no FMA (${l.noFma})`) +
    (l.assembled ? `; assembled from text (${l.assembled})` : '') +
    (l.pool ? `; ${l.pool.threads} intra-op threads` : '');
  const known = instances.get(internals);
  if (known) return { loaded: true, detail: describe(known), threads: known.pool?.threads ?? 1 };
  const memory = internals.wasm?.asm?.memory ?? internals.wasm?.wasmMemory;
  if (!(memory instanceof WebAssembly.Memory) || typeof internals.getMemoryOffset !== 'function') {
    return {
      loaded: false,
      detail: 'the tfjs-wasm heap is not reachable (unexpected tfjs-backend-wasm internals)',
      threads: 1,
    };
  }
  const shared = (memory as { buffer: unknown }).buffer instanceof SharedArrayBuffer;
  try {
    if (!compiled.has(shared)) compiled.set(shared, compile(shared));
    const modules = await compiled.get(shared)!;
    const instantiate = async (module: object, fma: boolean): Promise<SimdHelpers> => {
      const instance = await WebAssembly.instantiate(module, { env: { memory } });
      const exports = instance.exports as Omit<SimdHelpers, 'fma' | keyof CompositeCalls>;
      return { ...exports, ...compositeCalls(exports), fma };
    };
    const loaded: Loaded = {
      plain: await instantiate(modules.plain, false),
      fma: modules.fma ? await instantiate(modules.fma, true) : undefined,
      noFma: modules.noFma,
      assembled: modules.assembled,
    };
    if (threads > 1 && shared) {
      loaded.pool = await IntraOpPool.start(threads, { plain: modules.plain, fma: modules.fma }, memory);
      loaded.pooled = {
        plain: pooledHelpers(loaded.plain, loaded.pool),
        fma: loaded.fma && pooledHelpers(loaded.fma, loaded.pool),
      };
    }
    instances.set(internals, loaded);
    return { loaded: true, detail: describe(loaded), threads: loaded.pool?.threads ?? 1 };
  } catch (err) {
    compiled.delete(shared);
    return { loaded: false, detail: `wasm SIMD helpers failed to load: ${String(err)}`, threads: 1 };
  }
}

/** The same helpers with every splittable call handed to the pool (split-jobs.ts says which). */
function pooledHelpers(helpers: SimdHelpers, pool: IntraOpPool): SimdHelpers {
  const pooled: Record<string, unknown> = { ...helpers };
  for (const name of SPLIT_NAMES) {
    pooled[name] = (...args: number[]) => pool.run(splitJob(name, args), helpers, helpers.fma);
  }
  return pooled as unknown as SimdHelpers;
}

/** The helpers for this backend, if loaded and switched on (the FMA build when allowed). */
export function simdHelpers(backend: unknown): SimdHelpers | undefined {
  if (!simdHelperSwitch.enabled) return undefined;
  const loaded = instances.get(backend as object);
  if (!loaded) return undefined;
  const set = loaded.pooled && simdHelperSwitch.intraOp ? loaded.pooled : loaded;
  return (simdHelperSwitch.fma && set.fma) || set.plain;
}

/** The intra-op pool of this backend, if one was started (for reports and tests). */
export function intraOpPool(backend: unknown): IntraOpPool | undefined {
  return instances.get(backend as object)?.pool;
}

/** Byte offset of a tensor's data in the wasm heap. */
export function heapPointer(backend: unknown, x: TensorInfo): number {
  return (backend as WasmBackendInternals).getMemoryOffset(x.dataId);
}
