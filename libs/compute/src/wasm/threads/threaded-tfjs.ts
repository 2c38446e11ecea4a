import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * Makes tfjs-backend-wasm start its threaded-SIMD build in Node, whose heap is a shared
 * WebAssembly.Memory: the one thing intra-op threads need, since a second thread can only work
 * on tensors in place if it sees the same memory.
 *
 * tfjs 4.22 ships that build but switches it off in Node (WASM_HAS_MULTITHREAD_SUPPORT is false
 * there, tensorflow/tfjs#3830) because its Emscripten pthread workers are started from `blob:`
 * URLs, which Node's Worker does not accept. The worker script itself already supports Node
 * (it uses worker_threads when it finds itself in Node). So this writes that script, and the
 * main script it loads, to a private temporary folder (mkdtemp: 0700, one per process, removed
 * once the backend has started), hands Emscripten the file path in place of the blob URL during initialisation only,
 * and sets the flag. Nothing in tfjs is patched on disk.
 *
 * Call before the wasm backend initialises; returns why it cannot, or undefined when set up.
 */
export function prepareThreadedTfjs(): string | undefined {
  let wasmOut: string;
  let workerContents: string;
  try {
    const pkgDir = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
    wasmOut = join(pkgDir, 'wasm-out');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    workerContents = (require(join(wasmOut, 'tfjs-backend-wasm-threaded-simd.worker.js')) as WorkerModule)
      .wasmWorkerContents;
  } catch (err) {
    return `tfjs-backend-wasm's threaded build is not installed (${String(err)})`;
  }
  if (!workerContents.includes(BLOB_IMPORT)) {
    return 'tfjs-backend-wasm threaded worker script differs from 4.22 (its main-script import was not found)';
  }
  const dir = mkdtempSync(join(tmpdir(), 'phcc-tfjs-threads-'));
  scriptsDir = dir;
  const mainScript = join(dir, 'main.js');
  const workerScript = join(dir, 'worker.js');
  writeFileSync(
    mainScript,
    `var WasmBackendModuleThreadedSimd = require(${JSON.stringify(join(wasmOut, 'tfjs-backend-wasm-threaded-simd.js'))});\n`,
  );
  // tfjs escapes newlines the same way before it makes its blob.
  writeFileSync(
    workerScript,
    workerContents
      .replace(/\n/g, '\\n')
      .replace(BLOB_IMPORT, `importScripts(${JSON.stringify(mainScript)});`),
  );
  pendingWorkerScript = workerScript;
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  return undefined;
}

/**
 * Runs `init` (the backend's initialisation) with `URL.createObjectURL` answering the worker
 * script's path: the only object URL tfjs makes is the pthread worker's.
 */
export async function withThreadedWorkerScript<T>(init: () => Promise<T>): Promise<T> {
  const script = pendingWorkerScript;
  if (!script) return init();
  const original = URL.createObjectURL;
  URL.createObjectURL = () => script;
  try {
    return await init();
  } finally {
    URL.createObjectURL = original;
  }
}

/**
 * Ends `prepareThreadedTfjs`, once the backend has started (or failed to): the flag goes back,
 * and the scripts are deleted. Emscripten's pthread workers have all loaded them by then (its
 * initialisation waits for its pool), and a process or worker thread ended by `terminate()`
 * runs no exit handler, so waiting for exit left a folder behind per threaded worker.
 */
export function unprepareThreadedTfjs(): void {
  pendingWorkerScript = undefined;
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  if (scriptsDir) rmSync(scriptsDir, { recursive: true, force: true });
  scriptsDir = undefined;
}

interface WorkerModule {
  wasmWorkerContents: string;
}

/** What the 4.22 worker script does with the main script it is sent (a Blob that Node cannot import). */
const BLOB_IMPORT =
  'if(typeof e.data.urlOrBlob=="string"){importScripts(e.data.urlOrBlob)}else{var objectUrl=URL.createObjectURL(e.data.urlOrBlob);importScripts(objectUrl);URL.revokeObjectURL(objectUrl)}';

let pendingWorkerScript: string | undefined;
let scriptsDir: string | undefined;
