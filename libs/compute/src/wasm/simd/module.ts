import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { packageRoot } from '../../../../common/src';
import { geluFields } from './gelu-wat';
import { gemmFields } from './gemm-wat';
import { HELPER_FIELDS } from './helpers-wat';
import { OPTIMIZER_FIELDS } from './optimizer-wat';

/**
 * The SIMD helper module as the build writes it and the loader finds it: its two variants, their
 * WebAssembly text, and the file each becomes. `npm run build` (build-wasm.ts) assembles both
 * into dist/wasm/; helpers.ts reads the bytes at start and assembles from text only when the
 * built file is absent or stale. The file name carries a hash of the text, so a change to the
 * text generators (a new kernel) can never load an old binary: it simply finds no file.
 */

/**
 * `fma` multiplies and adds in one instruction (relaxed SIMD); `plain` is baseline wasm SIMD.
 * The `-shared` builds import a shared memory (tfjs-wasm's threaded build, which intra-op
 * threads need: wasm links a module only to a memory whose `shared` flag matches its import).
 */
export const SIMD_VARIANTS = ['plain', 'fma', 'plain-shared', 'fma-shared'] as const;
export type SimdVariant = (typeof SIMD_VARIANTS)[number];

/** The variant for a GEMM with or without FMA on a shared or unshared heap. */
export function simdVariant(fma: boolean, shared: boolean): SimdVariant {
  return `${fma ? 'fma' : 'plain'}${shared ? '-shared' : ''}` as SimdVariant;
}
const isFma = (variant: SimdVariant) => variant.startsWith('fma');
const isShared = (variant: SimdVariant) => variant.endsWith('-shared');

/** A shared memory import must state a maximum: the whole 32-bit space, so any heap links. */
const SHARED_MEMORY = '(memory 0 65536 shared)';

/** Where the build writes the binaries, relative to the package root (shipped: package.json "files" has dist/). */
export const SIMD_WASM_DIR = join('dist', 'wasm');
/** Every built variant's file starts with this, so the build can clear superseded ones. */
export const SIMD_WASM_PREFIX = 'phcc-simd-';

export function simdModuleText(variant: SimdVariant): string {
  const memory = isShared(variant) ? SHARED_MEMORY : '(memory 0)';
  return `(module (import "env" "memory" ${memory})\n${HELPER_FIELDS}\n${OPTIMIZER_FIELDS}\n${geluFields(isFma(variant))}\n${gemmFields(isFma(variant))})`;
}

const fileNames = new Map<SimdVariant, string>();

/** `phcc-simd-<variant>-<16 hex of sha256(text)>.wasm`. */
export function simdWasmFileName(variant: SimdVariant): string {
  let name = fileNames.get(variant);
  if (!name) {
    const hash = createHash('sha256').update(simdModuleText(variant)).digest('hex').slice(0, 16);
    name = `${SIMD_WASM_PREFIX}${variant}-${hash}.wasm`;
    fileNames.set(variant, name);
  }
  return name;
}

/** The absolute folder of the built binaries in this install. */
export function simdWasmDir(): string {
  return join(packageRoot(), SIMD_WASM_DIR);
}

type Wabt = Awaited<ReturnType<typeof import('wabt')>>;
let wabtReady: Promise<Wabt> | undefined;

/**
 * Assembles one variant from its text with `wabt` (a build dependency: the production install,
 * `npm ci --omit=dev`, has only the built files and never gets here unless they are missing).
 */
export async function assembleSimdModule(variant: SimdVariant): Promise<Uint8Array> {
  wabtReady ??= (async () => {
    let factory: typeof import('wabt');
    try {
      // wabt is an emscripten module: a factory that resolves to the assembler.
      factory = (await import('wabt')).default;
    } catch (err) {
      wabtReady = undefined;
      throw new Error(
        `wabt (a build dependency) is not installed, so the text cannot be assembled: ${String(err)}`,
      );
    }
    return factory();
  })();
  const wabt = await wabtReady;
  const parsed = wabt.parseWat(`phcc-simd-${variant}.wat`, simdModuleText(variant), {
    simd: true,
    relaxed_simd: isFma(variant),
    threads: isShared(variant),
  });
  try {
    return parsed.toBinary({}).buffer;
  } finally {
    parsed.destroy();
  }
}
