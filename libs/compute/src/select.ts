import * as tf from '@tensorflow/tfjs-core';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { InputError, Log, PhccError, silentLog } from '../../common/src';
import { registerTfjsCoreGradients } from './gradients/tfjs-core-gradients';
import { loadSimdHelpers } from './wasm/simd/helpers';
import {
  prepareThreadedTfjs,
  unprepareThreadedTfjs,
  withThreadedWorkerScript,
} from './wasm/threads/threaded-tfjs';
import { registerWasmKernels } from './wasm/register-kernels';
import { installSharedSaves } from './wasm/shared-saves';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

/** What `initBackend` chose, for logs, benchmark reports and run metadata. */
export interface BackendInfo {
  name: BackendName;
  /** The npm package that provides it (what a site would `npm install`). */
  package: string;
  /** Why this one: forced, or the fastest installed. */
  reason: string;
  /** Compute threads it uses (wasm: 1, or its intra-op threads when `threads` > 1 started them). */
  threads: number;
  gpu: boolean;
  /**
   * wasm only: whether the SIMD data-movement helpers (im2col, layout changes, sums) run inside
   * the replacement kernels, or why they fall back to plain JS.
   */
  helpers?: string;
}

export interface InitBackendOptions {
  /** Force a backend ('tensorflow' | 'wasm' | 'cpu'); default: env PHCC_BACKEND, else the fastest. */
  backend?: BackendName | string;
  /**
   * wasm only: threads that share each large kernel call in this process (intra-op, on a shared
   * heap: wasm/threads/). Default: env PHCC_WASM_THREADS, else 1.
   */
  threads?: number;
  log?: Log;
}

/** The intra-op thread count asked for (option, else PHCC_WASM_THREADS), checked. */
export function requestedThreads(threads: number | undefined): number {
  const raw = threads ?? process.env.PHCC_WASM_THREADS ?? 1;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 64) {
    throw new InputError(
      `threads must be a whole number from 1 to 64, got "${String(raw)}"${threads === undefined ? ' (from PHCC_WASM_THREADS)' : ''}`,
    );
  }
  return n;
}

const NATIVE_PACKAGES = [
  { pkg: '@tensorflow/tfjs-node-gpu', gpu: true },
  { pkg: '@tensorflow/tfjs-node', gpu: false },
] as const;
const WASM_PACKAGE = '@tensorflow/tfjs-backend-wasm';
const CPU_PACKAGE = '@tensorflow/tfjs-backend-cpu';
const KNOWN: readonly string[] = ['tensorflow', 'wasm', 'cpu'];

let chosen: BackendInfo | undefined;
let pending: Promise<BackendInfo> | undefined;

/**
 * Picks and initialises the tfjs backend once per process: the native TensorFlow binding when a
 * site installed it (it is never a dependency: its install downloads libtensorflow, which hospital
 * networks often block), else wasm with our replacement kernels, else the pure-JS cpu backend.
 * Later calls return the first answer, because tfjs holds one global backend.
 */
export function initBackend(opts: InitBackendOptions = {}): Promise<BackendInfo> {
  if (chosen) {
    if (opts.backend !== undefined && opts.backend !== chosen.name) {
      return Promise.reject(
        new PhccError(
          `compute backend already initialised as ${chosen.name}; cannot switch to ${opts.backend}`,
          'BACKEND_CONFLICT',
        ),
      );
    }
    return Promise.resolve(chosen);
  }
  if (!pending) {
    pending = pickBackend(opts).then(
      (info) => {
        chosen = info;
        (opts.log ?? silentLog).info(
          {
            backend: info.name,
            package: info.package,
            threads: info.threads,
            gpu: info.gpu,
            helpers: info.helpers,
          },
          `compute backend: ${info.name} (${info.reason}; ${info.threads} thread${info.threads === 1 ? '' : 's'}` +
            `${info.helpers ? `; kernel helpers: ${info.helpers}` : ''})`,
        );
        return info;
      },
      (err: unknown) => {
        pending = undefined;
        throw err;
      },
    );
  }
  return pending;
}

/** The backend chosen so far, if `initBackend` has finished. */
export function currentBackendInfo(): BackendInfo | undefined {
  return chosen;
}

/**
 * Every backend this install can run, fastest first (for benchmarks that compare them in one
 * process). Loading a native binding here registers it, as initBackend would.
 */
export function availableBackends(): BackendName[] {
  const names: BackendName[] = [];
  if (tryNative()) names.push('tensorflow');
  if (resolvable(WASM_PACKAGE)) names.push('wasm');
  names.push('cpu');
  return names;
}

/**
 * Switches the process to `name` (loading it and, on wasm, its replacement kernels) without
 * changing what `initBackend` reports: for side-by-side measurements. Call `initBackend`'s
 * choice again with `useBackend(currentBackendInfo().name)` when done.
 */
export function useBackend(name: BackendName): Promise<BackendInfo> {
  return activate(name, 'selected for comparison', true);
}

async function pickBackend(opts: InitBackendOptions): Promise<BackendInfo> {
  // Checked first: a bad count is the caller's error, never a reason to fall back to cpu.
  const threads = requestedThreads(opts.threads);
  const envForced = process.env.PHCC_BACKEND?.trim() || undefined;
  const forced = opts.backend ?? envForced;
  if (forced !== undefined) {
    if (!KNOWN.includes(forced)) {
      throw new InputError(
        `unknown compute backend "${forced}"${opts.backend ? '' : ' (from PHCC_BACKEND)'}: use tensorflow, wasm or cpu`,
      );
    }
    const why = opts.backend ? 'forced by option' : 'forced by PHCC_BACKEND';
    return activate(forced as BackendName, why, true, undefined, threads);
  }
  const native = tryNative();
  if (native) return activate('tensorflow', `fastest installed (${native.pkg})`, false, native);
  try {
    return await activate(
      'wasm',
      'no native TensorFlow binding installed; wasm is the fastest left',
      false,
      undefined,
      threads,
    );
  } catch (err) {
    (opts.log ?? silentLog).warn({ err: String(err) }, 'wasm backend failed to start; falling back to cpu');
    return activate('cpu', `wasm failed to start (${String(err)})`, false);
  }
}

interface NativeBinding {
  pkg: string;
  gpu: boolean;
}

/** Loads tfjs-node(-gpu) if it resolves; the require registers the 'tensorflow' backend. */
function tryNative(): NativeBinding | undefined {
  for (const candidate of NATIVE_PACKAGES) {
    if (!resolvable(candidate.pkg)) continue;
    try {
      // Dynamic on purpose: an optional, site-installed package, never bundled.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require(candidate.pkg);
    } catch {
      continue;
    }
    if (tf.findBackendFactory('tensorflow')) return candidate;
  }
  return undefined;
}

function resolvable(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

async function activate(
  name: BackendName,
  reason: string,
  forced: boolean,
  native?: NativeBinding,
  threads = 1,
): Promise<BackendInfo> {
  silenceNodeBackendAdvert();
  // tfjs-core's CommonJS build has no gradient functions; training needs them on every backend.
  registerTfjsCoreGradients();
  if (name === 'tensorflow') {
    const binding = native ?? tryNative();
    if (!binding) {
      throw new PhccError(
        'the tensorflow backend is not installed: run `npm install @tensorflow/tfjs-node` ' +
          '(or `npm install @tensorflow/tfjs-node-gpu` on a site with CUDA), or pick --backend wasm',
        'BACKEND_MISSING',
        2,
      );
    }
    await setOrThrow('tensorflow', binding.pkg);
    return { name, package: binding.pkg, reason, threads: cpus().length, gpu: binding.gpu };
  }
  if (name === 'wasm') {
    loadWasm(forced);
    // Intra-op threads need tfjs-wasm's threaded build (a shared heap); it can only be chosen
    // before the backend first starts in this process.
    const unthreaded = threads > 1 && !tf.engine().registry.wasm ? prepareThreadedTfjs() : undefined;
    try {
      await withThreadedWorkerScript(() => setOrThrow('wasm', WASM_PACKAGE));
    } finally {
      unprepareThreadedTfjs();
    }
    registerWasmKernels();
    installSharedSaves();
    const simd = await loadSimdHelpers(tf.backend(), threads);
    const helpers =
      (simd.loaded ? simd.detail : `plain JS (${simd.detail})`) +
      (threads > simd.threads
        ? `; 1 thread, not ${threads}: ${unthreaded ?? 'the wasm backend had already started unthreaded'}`
        : '');
    return { name, package: WASM_PACKAGE, reason, threads: simd.threads, gpu: false, helpers };
  }
  loadCpu();
  await setOrThrow('cpu', CPU_PACKAGE);
  return { name, package: CPU_PACKAGE, reason, threads: 1, gpu: false };
}

async function setOrThrow(name: string, pkg: string): Promise<void> {
  if (!(await tf.setBackend(name))) {
    throw new PhccError(`the ${name} backend (${pkg}) failed to initialise`, 'BACKEND_INIT');
  }
  await tf.ready();
}

/**
 * Registers the wasm backend and points it at its .wasm files inside node_modules. Resolving
 * the package (not a path relative to this file) works the same from ts-jest and from dist/.
 */
function loadWasm(forced: boolean): void {
  if (tf.findBackendFactory('wasm')) return;
  let wasmModule: typeof import('@tensorflow/tfjs-backend-wasm');
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    wasmModule = require(WASM_PACKAGE) as typeof import('@tensorflow/tfjs-backend-wasm');
  } catch (err) {
    throw new PhccError(
      `the wasm backend is not installed: run \`npm install ${WASM_PACKAGE}\` (${String(err)})`,
      'BACKEND_MISSING',
      forced ? 2 : 1,
    );
  }
  wasmModule.setWasmPaths(wasmBinaryDir() + '/');
}

/** Directory holding tfjs-backend-wasm's .wasm binaries. */
export function wasmBinaryDir(): string {
  return join(dirname(require.resolve(`${WASM_PACKAGE}/package.json`)), 'dist');
}

function loadCpu(): void {
  if (tf.findBackendFactory('cpu')) return;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require(CPU_PACKAGE);
}

/**
 * The cpu backend prints a "install tfjs-node" advert on its first tensor. We chose the backend
 * deliberately and log why, so the advert is noise (and lands in users' terminals). Its flag is
 * private; flipping it touches nothing else, unlike the global PROD/IS_TEST flags.
 */
function silenceNodeBackendAdvert(): void {
  loadCpu();
  const cpu = tf.findBackend('cpu');
  if (cpu && 'firstUse' in cpu) Reflect.set(cpu, 'firstUse', false);
}
