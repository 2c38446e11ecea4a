/**
 * Native GEMM candidates against our wasm GEMM on pHCC-SSL's pointwise shapes (issue #19,
 * "Beyond 128 bits"). Not part of the product: the candidates are never dependencies of the
 * project. Install them in a scratch folder and point NATIVE_GEMM_MODULES at it:
 *
 *   mkdir -p /tmp/native && cd /tmp/native && npm init -y
 *   ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node   # binaries inside the package
 *   apt-get install libopenblas-dev && npm install nblas         # compiled at install, -lblas
 *   NATIVE_GEMM_MODULES=/tmp/native node bench/native-gemm/run.js [--rounds 5] [--batch 32]
 *
 * Every engine runs the same GEMMs at one thread, interleaved shape by shape and round by round,
 * so ratios are comparable on a loaded machine where absolute figures are not. For each pointwise
 * layer (Y = X·W) it times the three GEMMs a training step runs: forward X·W, input gradient
 * dY·Wᵀ and weight gradient Xᵀ·dY. Results are checked against the wasm product before timing.
 */
import * as tf from '@tensorflow/tfjs-core';
import { loadavg } from 'node:os';
import { initBackend } from '../../libs/compute/src';
import { modelConfig, stageLayout } from '../../libs/model/src/network';
import { patchPixels } from '../../libs/model/src/network/decoder';

// One thread for every candidate; read by OpenBLAS and OpenMP when their library loads.
process.env.OMP_NUM_THREADS = '1';
process.env.OPENBLAS_NUM_THREADS = '1';

type Form = 'fwd' | 'dx' | 'dw';
interface Shape {
  layer: string;
  /** How many layers of one SSL step have this shape. */
  count: number;
  rows: number;
  k: number;
  n: number;
}
/** One GEMM call: C[m, n] = op(A)[m, k] · op(B)[k, n]. */
interface Gemm {
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  a: Float32Array;
  b: Float32Array;
}
interface Prepared {
  run(): void;
  result(): Float32Array;
}
interface Engine {
  name: string;
  /** Prepares one GEMM (sessions, output buffers): `run` computes C, `result` reads it. */
  prepare(g: Gemm): Prepared;
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`--${name}: expected a positive integer, got "${process.argv[i + 1]}"`);
  return value;
}

/**
 * The pointwise (1×1) GEMMs of one SSL step of the default model, one entry per shape with the
 * number of layers that have it (the first layer named).
 */
function pointwiseShapes(batch: number): Shape[] {
  const config = modelConfig();
  const byKey = new Map<string, Shape>();
  const add = (layer: string, rows: number, k: number, n: number): void => {
    const first = byKey.get(`${rows}x${k}x${n}`);
    if (first) first.count++;
    else byKey.set(`${rows}x${k}x${n}`, { layer, count: 1, rows, k, n });
  };
  const block = (name: string, rows: number, dim: number): void => {
    const hidden = Math.round(dim * config.mlpRatio);
    add(`${name}/pwconv1`, rows, dim, hidden);
    add(`${name}/pwconv2`, rows, hidden, dim);
  };
  let res = config.imageSize / config.stemStride;
  stageLayout(config).forEach((stage, i) => {
    if (stage.downsample) res /= 2;
    // A stage that keeps the resolution starts with a 1×1 channel transition (a dense layer).
    else if (i > 0) add(`stage${i + 1}/transition`, batch * res * res, config.dims[i - 1], stage.dim);
    for (let b = 0; b < stage.depth; b++) block(`stage${i + 1}`, batch * res * res, stage.dim);
  });
  // The decoder, on the last stage's grid: projection, its ConvNeXt blocks, the pixel prediction.
  const rows = batch * res * res;
  add('decoder/proj', rows, config.dims[config.dims.length - 1], config.decoderDim);
  for (let b = 0; b < config.decoderDepth; b++) block('decoder', rows, config.decoderDim);
  add('decoder/pred', rows, config.decoderDim, patchPixels(config));
  return [...byKey.values()];
}

function random(length: number, seed: number): Float32Array {
  const out = new Float32Array(length);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 2 ** 32) * 2 - 1;
  }
  return out;
}

/** The three GEMMs of a dense layer's training step, on fresh operands. */
function gemmsOf(shape: Shape, seed: number): Record<Form, Gemm> {
  const { rows, k, n } = shape;
  const x = random(rows * k, seed);
  const w = random(k * n, seed + 1);
  const dy = random(rows * n, seed + 2);
  return {
    fwd: { m: rows, n, k, transA: false, transB: false, a: x, b: w },
    dx: { m: rows, n: k, k: n, transA: false, transB: true, a: dy, b: w },
    dw: { m: k, n, k: rows, transA: true, transB: false, a: x, b: dy },
  };
}

/** Our wasm GEMM as the product reaches it: tf.matMul on the wasm backend with our kernels. */
const wasmEngine: Engine = {
  name: 'wasm (ours)',
  prepare(g) {
    const a = tf.tensor2d(g.a, g.transA ? [g.k, g.m] : [g.m, g.k]);
    const b = tf.tensor2d(g.b, g.transB ? [g.n, g.k] : [g.k, g.n]);
    let last: tf.Tensor | undefined;
    return {
      // The wasm kernel runs synchronously inside matMul; the product stays in the wasm heap, as
      // it would inside a training step (no copy out is timed).
      run: () => {
        last?.dispose();
        last = tf.matMul(a, b, g.transA, g.transB);
      },
      result: () => last!.dataSync() as Float32Array,
    };
  },
};

/** Where the candidates were installed: NATIVE_GEMM_MODULES, folders separated by ':'. */
function modulePaths(): string[] {
  return (process.env.NATIVE_GEMM_MODULES ?? process.cwd()).split(':').filter(Boolean);
}

function loadOptional(name: string): unknown {
  try {
    // Optional, resolved from where the candidate was installed: never a project dependency.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(require.resolve(name, { paths: modulePaths() }));
  } catch (err) {
    console.log(`${name}: not loaded (${String(err).split('\n')[0]})`);
    return undefined;
  }
}

// --- onnxruntime-node: a one-node ONNX graph per GEMM, written as protobuf bytes by hand (the
// package has no graph builder, and the onnx protobuf package would be one more dependency).
function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 127) {
    out.push((n & 127) | 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}
const field = (no: number, bytes: number[]): number[] => [
  ...varint((no << 3) | 2),
  ...varint(bytes.length),
  ...bytes,
];
const intField = (no: number, v: number): number[] => [...varint(no << 3), ...varint(v)];
const str = (s: string): number[] => [...Buffer.from(s, 'utf8')];
function tensorInfo(name: string, dims: number[]): number[] {
  const shape = dims.flatMap((d) => field(1, intField(1, d)));
  const tensorType = [...intField(1, 1 /* FLOAT */), ...field(2, shape)];
  return [...field(1, str(name)), ...field(2, field(1, tensorType))];
}
function gemmModel(g: Gemm): Uint8Array {
  const attr = (name: string, v: number): number[] => [
    ...field(1, str(name)),
    ...intField(20, 2 /* INT */),
    ...intField(3, v),
  ];
  const node = [
    ...field(1, str('A')),
    ...field(1, str('B')),
    ...field(2, str('Y')),
    ...field(4, str('Gemm')),
    ...field(5, attr('transA', g.transA ? 1 : 0)),
    ...field(5, attr('transB', g.transB ? 1 : 0)),
  ];
  const graph = [
    ...field(1, node),
    ...field(2, str('gemm')),
    ...field(11, tensorInfo('A', g.transA ? [g.k, g.m] : [g.m, g.k])),
    ...field(11, tensorInfo('B', g.transB ? [g.n, g.k] : [g.k, g.n])),
    ...field(12, tensorInfo('Y', [g.m, g.n])),
  ];
  const opset = [...field(1, str('')), ...intField(2, 13)];
  return Uint8Array.from([...intField(1, 8 /* IR version */), ...field(8, opset), ...field(7, graph)]);
}

interface OrtBindingSession {
  loadModel(buffer: ArrayBufferLike, offset: number, length: number, options: object): void;
  run(
    feeds: Record<string, unknown>,
    fetches: Record<string, unknown>,
    options: object,
  ): Record<string, { data: Float32Array }>;
}
interface OrtModule {
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => { data: Float32Array };
  InferenceSession: {
    create(
      model: Uint8Array,
      options: object,
    ): Promise<{ run(feeds: object, fetches?: object): Promise<Record<string, { data: Float32Array }>> }>;
  };
}
const ORT_OPTIONS = {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
};

/**
 * The synchronous call under the package's public API: `InferenceSession.run` only exists as a
 * Promise (the binding call deferred by setImmediate), and a tfjs kernel must return
 * synchronously, so an accelerator inside our kernels would have to use this private binding.
 */
function ortEngine(root: string, ort: OrtModule): Engine {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { binding, initOrt } = require(`${root}/dist/binding`) as {
    binding: { InferenceSession: new () => OrtBindingSession };
    initOrt(): void;
  };
  initOrt();
  return {
    name: 'onnxruntime-node',
    prepare(g) {
      const model = gemmModel(g);
      const session = new binding.InferenceSession();
      session.loadModel(model.buffer, model.byteOffset, model.byteLength, ORT_OPTIONS);
      const feeds = {
        A: new ort.Tensor('float32', g.a, g.transA ? [g.k, g.m] : [g.m, g.k]),
        B: new ort.Tensor('float32', g.b, g.transB ? [g.n, g.k] : [g.k, g.n]),
      };
      // A pre-allocated output, as a kernel writing into a tfjs buffer would pass.
      const out = new ort.Tensor('float32', new Float32Array(g.m * g.n), [g.m, g.n]);
      return { run: () => session.run(feeds, { Y: out }, {}), result: () => out.data };
    },
  };
}

interface Nblas {
  sgemm(
    ta: number,
    tb: number,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: Float32Array,
    lda: number,
    b: Float32Array,
    ldb: number,
    beta: number,
    c: Float32Array,
    ldc: number,
  ): void;
  NoTrans: number;
  Trans: number;
}
function nblasEngine(blas: Nblas): Engine {
  return {
    name: 'nblas (OpenBLAS)',
    prepare(g) {
      const c = new Float32Array(g.m * g.n);
      const lda = g.transA ? g.m : g.k;
      const ldb = g.transB ? g.k : g.n;
      const ta = g.transA ? blas.Trans : blas.NoTrans;
      const tb = g.transB ? blas.Trans : blas.NoTrans;
      return {
        run: () => blas.sgemm(ta, tb, g.m, g.n, g.k, 1, g.a, lda, g.b, ldb, 0, c, g.n),
        result: () => c,
      };
    },
  };
}

function maxRelDiff(x: Float32Array, ref: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    diff = Math.max(diff, Math.abs(x[i] - ref[i]));
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  return diff / scale;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((p, q) => p - q);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** CPU seconds over wall seconds, per engine: proves "1 thread" rather than assuming it. */
const cpuShare = new Map<number, { cpu: number; wall: number }>();

/**
 * Best and median ms of a call over enough repetitions to fill ≈ `budgetMs`. The best is the
 * figure compared: on a shared 2-core machine the median also measures the other tenants.
 */
function timeCall(call: () => unknown, budgetMs: number, engine: number): { best: number; median: number } {
  call();
  const t0 = performance.now();
  call();
  const once = Math.max(performance.now() - t0, 0.01);
  const reps = Math.max(3, Math.min(200, Math.round(budgetMs / once)));
  const times: number[] = [];
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  for (let i = 0; i < reps; i++) {
    const s = performance.now();
    call();
    times.push(performance.now() - s);
  }
  const cpu = process.cpuUsage(cpu0);
  const share = cpuShare.get(engine) ?? { cpu: 0, wall: 0 };
  share.cpu += (cpu.user + cpu.system) / 1000;
  share.wall += performance.now() - wall0;
  cpuShare.set(engine, share);
  return { best: Math.min(...times), median: median(times) };
}

async function dispatchOverhead(
  engines: Engine[],
  ort: OrtModule | undefined,
  rounds: number,
): Promise<void> {
  const tiny: Gemm = { m: 4, n: 4, k: 4, transA: false, transB: false, a: random(16, 7), b: random(16, 8) };
  const calls = engines.map((e) => ({ name: e.name, call: e.prepare(tiny).run }));
  if (ort) {
    const session = await ort.InferenceSession.create(gemmModel(tiny), ORT_OPTIONS);
    const feeds = {
      A: new ort.Tensor('float32', tiny.a, [4, 4]),
      B: new ort.Tensor('float32', tiny.b, [4, 4]),
    };
    const perCall = [];
    for (let r = 0; r < rounds; r++) {
      const n = 2000;
      const t0 = performance.now();
      for (let i = 0; i < n; i++) await session.run(feeds);
      perCall.push(((performance.now() - t0) / n) * 1000);
    }
    console.log(`  onnxruntime-node, public async run(): ${median(perCall).toFixed(1)} µs per call`);
  }
  for (const { name, call } of calls) {
    const perCall = [];
    for (let r = 0; r < rounds; r++) {
      const n = 5000;
      const t0 = performance.now();
      for (let i = 0; i < n; i++) call();
      perCall.push(((performance.now() - t0) / n) * 1000);
    }
    console.log(`  ${name}: ${median(perCall).toFixed(1)} µs per call`);
  }
}

async function main(): Promise<void> {
  const rounds = arg('rounds', 5);
  const batch = arg('batch', 32);
  const budgetMs = arg('budget-ms', 150);
  const info = await initBackend({ backend: 'wasm' });
  console.log(
    `wasm: ${info.helpers}; load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );

  const engines: Engine[] = [wasmEngine];
  const ortRoot = (() => {
    try {
      return require
        .resolve('onnxruntime-node/package.json', { paths: modulePaths() })
        .replace(/\/package\.json$/, '');
    } catch {
      return undefined;
    }
  })();
  const ort = ortRoot ? (loadOptional('onnxruntime-node') as OrtModule | undefined) : undefined;
  if (ort && ortRoot) engines.push(ortEngine(ortRoot, ort));
  else console.log('onnxruntime-node: not installed');
  const blas = loadOptional('nblas') as Nblas | undefined;
  if (blas) engines.push(nblasEngine(blas));

  // A large square GEMM first: each engine's ceiling on this machine in this run.
  const shapes = [
    { count: 0, layer: 'ceiling 1024³', rows: 1024, k: 1024, n: 1024 },
    ...pointwiseShapes(batch),
  ];
  const forms: Form[] = ['fwd', 'dx', 'dw'];
  const cases = shapes.flatMap((shape, i) => {
    const gemms = gemmsOf(shape, 11 + 3 * i);
    return forms
      .filter((form) => i > 0 || form === 'fwd')
      .map((form) => {
        const g = gemms[form];
        const prepared = engines.map((e) => e.prepare(g));
        prepared.forEach((p) => p.run());
        const ref = prepared[0].result();
        const errors = prepared.slice(1).map((p) => maxRelDiff(p.result(), ref));
        const calls = prepared.map((p) => p.run);
        return {
          shape,
          form,
          g,
          calls,
          errors,
          ms: engines.map(() => [] as number[]),
          medianMs: engines.map(() => [] as number[]),
        };
      });
  });
  console.log(
    `\n${cases.length} GEMMs (batch ${batch}), ${rounds} interleaved rounds, 1 thread each; max|x − wasm| / max|wasm|:`,
  );
  for (const c of cases)
    if (c.errors.some((e) => !(e <= 1e-5)))
      throw new Error(
        `${c.shape.layer} ${c.form}: results differ from wasm (${c.errors.map((e) => e.toExponential(1)).join(', ')})`,
      );
  console.log(`  all ≤ ${Math.max(...cases.flatMap((c) => c.errors), 0).toExponential(1)}`);

  for (let r = 0; r < rounds; r++)
    for (const c of cases) {
      // Rotate the order each round so no engine always runs right after another's cache traffic.
      for (let j = 0; j < engines.length; j++) {
        const e = (j + r) % engines.length;
        const t = timeCall(c.calls[e], budgetMs, e);
        c.ms[e].push(t.best);
        c.medianMs[e].push(t.median);
      }
    }

  const head =
    engines.map((e) => e.name.padStart(18)).join('') +
    engines
      .slice(1)
      .map((e) => `  ${e.name.split(' ')[0]}/wasm`.padStart(18))
      .join('');
  console.log(
    `\nGFLOP/s from each round's best call, median over rounds (ratios: median of per-round ratios)\n${'layer'.padEnd(20)} ${'form'.padEnd(4)} ${'m×k×n'.padEnd(16)}${head}`,
  );
  const stepMs = engines.map(() => 0);
  const stepMedianMs = engines.map(() => 0);
  for (const c of cases) {
    const flop = 2 * c.g.m * c.g.n * c.g.k;
    const gf = c.ms.map((ms) => flop / (median(ms) / 1000) / 1e9);
    const ratios = c.ms.slice(1).map((ms) => median(ms.map((t, i) => c.ms[0][i] / t)));
    c.ms.forEach((ms, e) => (stepMs[e] += c.shape.count * median(ms)));
    c.medianMs.forEach((ms, e) => (stepMedianMs[e] += c.shape.count * median(ms)));
    console.log(
      `${(c.shape.count > 1 ? `${c.shape.layer} ×${c.shape.count}` : c.shape.layer).padEnd(20)} ${c.form.padEnd(4)} ${`${c.g.m}×${c.g.k}×${c.g.n}`.padEnd(16)}` +
        gf.map((g) => g.toFixed(1).padStart(18)).join('') +
        ratios.map((q) => `${q.toFixed(2)}×`.padStart(18)).join(''),
    );
  }
  console.log(
    `\nthe pointwise GEMMs of one SSL step (${shapes.reduce((n, s) => n + s.count, 0)} layers × 3 GEMMs): ` +
      engines.map((e, i) => `${e.name} ${stepMs[i].toFixed(1)} ms`).join(', ') +
      ` (best calls; from median calls: ${stepMedianMs.map((t) => t.toFixed(1)).join(', ')} ms)`,
  );
  console.log(
    'CPU time over wall time while timed (1.00 = one busy thread): ' +
      engines
        .map((e, i) => `${e.name} ${((cpuShare.get(i)?.cpu ?? 0) / (cpuShare.get(i)?.wall ?? 1)).toFixed(2)}`)
        .join(', '),
  );
  console.log('\nper-call dispatch, a 4×4×4 GEMM (median of rounds):');
  await dispatchOverhead(engines, ort, rounds);
}

main().catch((err: unknown) => {
  // One line for bad input or a failed check; the stack only for what is not an Error.
  console.error(err instanceof Error ? `native-gemm: ${err.message}` : err);
  process.exit(1);
});
