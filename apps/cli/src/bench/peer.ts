import { ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { InputError, packageRoot } from '../../../../libs/common/src';
import { ModelConfig } from '../../../../libs/model/src/network';
import { PhccModel } from '../../../../libs/model/src/network/model';
import { ClassWeights, SslWeighting } from '../../../../libs/model/src/training/losses';
import { FinetuneBatch, SslBatch } from '../../../../libs/model/src/training/steps';

/**
 * The PyTorch peer of `bench model --peer` (bench/peers/phcc_ssl.py): pHCC-SSL re-implemented in
 * PyTorch, fed our weights, batches and step options through a bundle directory so both sides
 * train the same network from the same numbers. Never a product dependency: only the benchmark
 * and its equivalence test start it, with a Python that has torch (Debian's python3-torch).
 */
export const PEER_SCRIPT = join(packageRoot(), 'bench', 'peers', 'phcc_ssl.py');

/**
 * glibc malloc kept resident for the "tuned" PyTorch: by default glibc returns freed arenas to the
 * kernel (trim) and serves large tensors by mmap, so every step re-faults its activations. 32 MiB
 * is the highest mmap threshold glibc accepts; the trim threshold is simply out of reach.
 */
export const RESIDENT_HEAP_ENV: Readonly<Record<string, string>> = Object.freeze({
  MALLOC_MMAP_THRESHOLD_: String(32 * 1024 * 1024),
  MALLOC_TRIM_THRESHOLD_: String(16 * 1024 ** 3),
  MALLOC_TOP_PAD_: String(256 * 1024 * 1024),
});

/** The step's hyper-parameters both sides use (our AdamW's and loops' defaults, given explicitly). */
export interface PeerStepOptions {
  lr: number;
  sslWeighting: SslWeighting;
  classWeights: ClassWeights;
  encoderLrScale: number;
  weightDecay: number;
  clipNorm: number;
  beta1: number;
  beta2: number;
  epsilon: number;
}

/**
 * Per step: wall seconds, and the process's CPU seconds (all its threads). On a machine shared
 * with other work the CPU time of a one-thread step is what it would take alone, near enough.
 */
export interface StepTimes {
  wall: number[];
  cpu: number[];
}

interface BundleEntry {
  name: string;
  shape: number[];
  offset: number;
}

/** One array of a peer bundle: a weight by our name and layout, or an input. */
export interface BundleArray {
  name: string;
  shape: number[];
  values: Float32Array;
}

/**
 * Writes a peer bundle into `dir`: manifest.json (`manifest`, plus where each array lies: `params`
 * and `inputs`) and data.bin (the arrays, float32 little-endian, in that order). What both peers
 * read (bench/peers/peer_common.py).
 */
export function writeBundle(
  dir: string,
  arrays: { params: BundleArray[]; inputs: BundleArray[] },
  manifest: Record<string, unknown>,
): void {
  const all = [...arrays.params, ...arrays.inputs];
  let offset = 0;
  const entries: BundleEntry[] = all.map(({ name, shape, values }) => {
    const size = shape.reduce((a, b) => a * b, 1);
    if (values.length !== size)
      throw new Error(`peer bundle: ${name} has ${values.length} values for [${shape}]`);
    const e = { name, shape, offset };
    offset += size;
    return e;
  });
  const data = new Float32Array(offset);
  all.forEach((a, i) => data.set(a.values, entries[i].offset));
  const params = entries.slice(0, arrays.params.length);
  const inputs = entries.slice(arrays.params.length);
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ ...manifest, params, inputs }));
  writeFileSync(join(dir, 'data.bin'), Buffer.from(data.buffer, data.byteOffset, data.byteLength));
}

/**
 * The pHCC-SSL peer's bundle: every weight by our name and layout, then the SSL and fine-tune
 * batches; the manifest holds the config and the step options.
 */
export function writePeerBundle(
  dir: string,
  model: PhccModel,
  batches: { ssl: SslBatch; finetune: FinetuneBatch },
  options: PeerStepOptions,
): void {
  const { imageSize: s, inChannels: c, phases: t } = model.config;
  const g = model.grid;
  const { ssl, finetune } = batches;
  const params = model.params.getWeights().map(({ name, shape, values }) => ({ name, shape, values }));
  const inputs = [
    { name: 'ssl/images', shape: [ssl.count, s, s, c], values: ssl.images },
    { name: 'ssl/mask', shape: [ssl.count, g, g], values: ssl.mask },
    { name: 'finetune/patients', shape: [finetune.count, t, s, s, c], values: finetune.patients },
    { name: 'finetune/labels', shape: [finetune.count], values: finetune.labels },
  ];
  writeBundle(dir, { params, inputs }, { config: model.config satisfies ModelConfig, options });
}

/**
 * Pythons tried when none is named: the one on PATH, then Debian's own (python3-torch installs
 * into it, and a pyenv or venv python3 first on PATH does not see it).
 */
const PYTHON_CANDIDATES = ['python3', '/usr/bin/python3'];

/**
 * The Python to run the peer with (`python`, else the first candidate that works), checked: it
 * must start and import torch and numpy. Throws an InputError naming the fix otherwise (the peer
 * is opt-in, so a missing torch is the user's to install).
 */
export function requirePeerPython(python?: string): { python: string; torch: string } {
  const tried: string[] = [];
  for (const candidate of python ? [python] : PYTHON_CANDIDATES) {
    const probe = spawnSync(candidate, ['-c', 'import torch, numpy; print(torch.__version__)'], {
      encoding: 'utf8',
    });
    if (!probe.error && probe.status === 0) return { python: candidate, torch: probe.stdout.trim() };
    tried.push(
      `${candidate}: ${probe.error ? probe.error.message : (probe.stderr.trim().split('\n').at(-1) ?? 'failed')}`,
    );
  }
  throw new InputError(
    `--peer: no Python with torch and numpy (${tried.join('; ')}); install Debian's python3-torch ` +
      '(apt-get install python3-torch) or name a Python that has them (--peer /path/to/python)',
  );
}

/** A float32 little-endian file the peers write (their gradients and updated weights). */
export function readFloat32File(path: string): Float32Array {
  const bytes = readFileSync(path);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

/** What `phcc_ssl.py check` prints; it also writes the gradients and one update into the bundle. */
export interface PeerCheck {
  param_count: number;
  encoder_macs: number;
  decoder_macs: number;
  head_macs: number;
  ssl_loss: number;
  finetune_loss: number;
  /** The SSL loss with the peer's pointwise layers on the rows that count only (as ours). */
  ssl_skip_rows_loss: number;
  /** Its largest gradient difference from the dense form, over the largest gradient. */
  ssl_skip_rows_grad_error: number;
}

export function runPeerCheck<T = PeerCheck>(python: string, dir: string, script: string = PEER_SCRIPT): T {
  const run = spawnSync(python, [script, 'check', dir], { encoding: 'utf8', env: peerEnv({}, 1) });
  if (run.error || run.status !== 0)
    throw new Error(`peer check failed: ${run.error?.message ?? run.stderr.trim()}`);
  return JSON.parse(run.stdout.trim().split('\n').at(-1) as string) as T;
}

/** The environment of a peer process: ours minus any malloc tuning, plus `extra`. */
function peerEnv(extra: Readonly<Record<string, string>>, threads: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('MALLOC_')) env[key] = value;
  // OpenMP's pool is sized at start; torch.set_num_threads then picks 1 or 2 per request.
  return { ...env, OMP_NUM_THREADS: String(threads), ...extra };
}

/**
 * A long-lived `phcc_ssl.py serve` process: asked for timed steps one request at a time, so the
 * benchmark can interleave them with ours. One process per allocator setting (malloc's
 * environment is read once, at start).
 */
export class PeerProcess {
  private readonly lines: AsyncIterableIterator<string>;

  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    readonly torchVersion: string,
    /** The BLAS library the peer loaded (Debian's reference BLAS makes its matmuls ≈ 9× slower). */
    readonly blas: string,
    lines: AsyncIterableIterator<string>,
  ) {
    this.lines = lines;
  }

  static async start(
    python: string,
    bundleDir: string,
    allocatorEnv: Readonly<Record<string, string>>,
    maxThreads: number,
    /** The peer script: pHCC-SSL by default, bench/peers/reference_cnn.py for `bench train`. */
    script: string = PEER_SCRIPT,
  ): Promise<PeerProcess> {
    const child = spawn(python, [script, 'serve', bundleDir], {
      env: peerEnv(allocatorEnv, maxThreads),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const first = await lines.next();
    if (first.done) throw new Error(`the PyTorch peer did not start: ${stderr.trim()}`);
    const hello = JSON.parse(first.value) as { torch: string; blas: string };
    return new PeerProcess(child, hello.torch, hello.blas, lines);
  }

  /** Wall and CPU seconds of `steps` optimiser steps of one stage on `threads` threads, after one warm-up. */
  async time(
    stage: 'ssl' | 'finetune' | 'reference-cnn',
    threads: number,
    steps: number,
    /** pHCC-SSL: the SSL step's pointwise layers on the rows that count only, as ours. */
    skipRows = false,
  ): Promise<StepTimes> {
    this.child.stdin.write(JSON.stringify({ stage, threads, steps, skipRows }) + '\n');
    const reply = await this.lines.next();
    if (reply.done) throw new Error(`the PyTorch peer exited (code ${this.child.exitCode})`);
    const parsed = JSON.parse(reply.value) as { seconds: number[]; cpu_seconds: number[] };
    return { wall: parsed.seconds, cpu: parsed.cpu_seconds };
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin.end();
    await exited;
  }
}
