import type { TensorInfo } from '@tensorflow/tfjs-core';
import { setFlagsFromString } from 'node:v8';
import { gemmFields } from './gemm-wat';
import { HELPER_FIELDS } from './helpers-wat';

/** The compiled helpers, called with byte offsets into the tfjs-wasm heap. */
export interface SimdHelpers {
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
  geluForward(x: number, y: number, count: number): void;
  geluBackward(x: number, dy: number, dx: number, count: number): void;
  /** LayerNorm over rows of `c` floats (c % 4 = 0); stats gets (mean, rstd) per row. */
  layerNormForward(
    x: number,
    gamma: number,
    beta: number,
    y: number,
    stats: number,
    rows: number,
    c: number,
    eps: number,
  ): void;
  /** LayerNorm's dx, dγ, dβ from the forward's stats; scratch holds 6·c floats. */
  layerNormBackward(
    x: number,
    dy: number,
    gamma: number,
    stats: number,
    dx: number,
    dgamma: number,
    dbeta: number,
    scratch: number,
    rows: number,
    c: number,
  ): void;
  /** GRN over [batch, hw, c] (c % 4 = 0); writes the norms [batch, c] and denominators [batch]; scratch c floats. */
  grnForward(
    x: number,
    gamma: number,
    beta: number,
    y: number,
    norms: number,
    denom: number,
    scratch: number,
    batch: number,
    hw: number,
    c: number,
    normEps: number,
    eps: number,
  ): void;
  /** GRN's dx, dγ, dβ from the forward's norms and denominators; scratch holds 8·c floats. */
  grnBackward(
    x: number,
    dy: number,
    gamma: number,
    norms: number,
    denom: number,
    dx: number,
    dgamma: number,
    dbeta: number,
    scratch: number,
    batch: number,
    hw: number,
    c: number,
  ): void;
  gemm(ap: number, bp: number, c: number, groups: number, panels: number, k: number, kc: number): void;
  /** C [4·groups][8·panels] = A · Bp, A row-major in place (rows `lda` bytes apart); C overwritten. */
  gemmRows(
    a: number,
    lda: number,
    bp: number,
    c: number,
    groups: number,
    panels: number,
    k: number,
    kc: number,
  ): void;
  packIm2col4(
    x: number,
    dst: number,
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
  packPanels8(src: number, dst: number, k: number, n: number): void;
  depthwiseForward(
    x: number,
    w: number,
    out: number,
    n: number,
    h: number,
    wd: number,
    c: number,
    ho: number,
    wo: number,
    kh: number,
    kw: number,
    padT: number,
    padL: number,
  ): void;
  depthwiseFilterGrad(
    x: number,
    dy: number,
    dw: number,
    part: number,
    n: number,
    h: number,
    w: number,
    c: number,
    ho: number,
    wo: number,
    kh: number,
    kw: number,
    padT: number,
    padL: number,
  ): void;
  packConvRows4(
    x: number,
    zeros: number,
    dst: number,
    p0: number,
    count: number,
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
  wasm?: { asm?: { memory?: unknown } };
  getMemoryOffset(dataId: object): number;
}

/**
 * Switches: `PHCC_WASM_HELPERS=0` (or tests setting `enabled`) makes the kernels take their
 * plain-JS paths, so both stay tested and a helper bug can be ruled out in the field;
 * `PHCC_WASM_FMA=0` (or `fma`) uses the GEMM built without relaxed SIMD.
 */
export const simdHelperSwitch = {
  enabled: process.env.PHCC_WASM_HELPERS !== '0',
  fma: process.env.PHCC_WASM_FMA !== '0',
};

/** The slice of the WebAssembly JS API used here (this project's TS lib has no WebAssembly types). */
interface WebAssemblyApi {
  Memory: abstract new (...args: never[]) => object;
  compile(bytes: Uint8Array): Promise<object>;
  instantiate(module: object, imports: object): Promise<{ exports: object }>;
}
const WebAssembly = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;

interface Compiled {
  plain: object;
  fma?: object;
  /** Why there is no FMA build, when there is none. */
  noFma?: string;
}

interface Loaded {
  plain: SimdHelpers;
  fma?: SimdHelpers;
  noFma?: string;
}

let compiled: Promise<Compiled> | undefined;
const instances = new WeakMap<object, Loaded>();

type Wabt = Awaited<ReturnType<typeof import('wabt')>>;

function assemble(wabt: Wabt, fma: boolean): Uint8Array {
  const text = `(module (import "env" "memory" (memory 0))\n${HELPER_FIELDS}\n${gemmFields(fma)})`;
  const parsed = wabt.parseWat('phcc-helpers.wat', text, { simd: true, relaxed_simd: fma });
  try {
    return parsed.toBinary({}).buffer;
  } finally {
    parsed.destroy();
  }
}

/**
 * Relaxed SIMD (FMA) ships enabled from Node 22 (V8 11.4); Node 20 has it behind a V8 flag,
 * which is read when a module compiles, so it is switched on just before compiling ours.
 */
async function compileFma(bytes: Uint8Array): Promise<object> {
  try {
    return await WebAssembly.compile(bytes);
  } catch {
    setFlagsFromString('--experimental-wasm-relaxed-simd');
    return WebAssembly.compile(bytes);
  }
}

async function compile(): Promise<Compiled> {
  // wabt is an emscripten module: a factory that resolves to the assembler.
  const wabtFactory = (await import('wabt')).default;
  const wabt = await wabtFactory();
  const plain = await WebAssembly.compile(assemble(wabt, false));
  try {
    return { plain, fma: await compileFma(assemble(wabt, true)) };
  } catch (err) {
    return { plain, noFma: String(err) };
  }
}

/**
 * Compiles the helpers (once per thread) and instantiates them on `backend`'s memory. Returns
 * loaded: false, leaving the JS paths in use, when that memory is not reachable (a tfjs-wasm
 * whose internals differ from 4.22) or the engine lacks wasm SIMD; `detail` says which, or
 * whether the GEMM has FMA.
 */
export async function loadSimdHelpers(backend: unknown): Promise<{ loaded: boolean; detail: string }> {
  const internals = backend as WasmBackendInternals;
  const describe = (l: Loaded) =>
    l.fma ? 'wasm SIMD, FMA (relaxed SIMD)' : `wasm SIMD, no FMA (relaxed SIMD did not compile: ${l.noFma})`;
  const known = instances.get(internals);
  if (known) return { loaded: true, detail: describe(known) };
  const memory = internals.wasm?.asm?.memory;
  if (!(memory instanceof WebAssembly.Memory) || typeof internals.getMemoryOffset !== 'function') {
    return {
      loaded: false,
      detail: 'the tfjs-wasm heap is not reachable (unexpected tfjs-backend-wasm internals)',
    };
  }
  try {
    compiled ??= compile();
    const modules = await compiled;
    const instantiate = async (module: object, fma: boolean): Promise<SimdHelpers> => {
      const instance = await WebAssembly.instantiate(module, { env: { memory } });
      return { ...(instance.exports as Omit<SimdHelpers, 'fma'>), fma } as SimdHelpers;
    };
    const loaded: Loaded = {
      plain: await instantiate(modules.plain, false),
      fma: modules.fma ? await instantiate(modules.fma, true) : undefined,
      noFma: modules.noFma,
    };
    instances.set(internals, loaded);
    return { loaded: true, detail: describe(loaded) };
  } catch (err) {
    compiled = undefined;
    return { loaded: false, detail: `wasm SIMD helpers failed to load: ${String(err)}` };
  }
}

/** The helpers for this backend, if loaded and switched on (the FMA build when allowed). */
export function simdHelpers(backend: unknown): SimdHelpers | undefined {
  if (!simdHelperSwitch.enabled) return undefined;
  const loaded = instances.get(backend as object);
  if (!loaded) return undefined;
  return (simdHelperSwitch.fma && loaded.fma) || loaded.plain;
}

/** Byte offset of a tensor's data in the wasm heap. */
export function heapPointer(backend: unknown, x: TensorInfo): number {
  return (backend as WasmBackendInternals).getMemoryOffset(x.dataId);
}
