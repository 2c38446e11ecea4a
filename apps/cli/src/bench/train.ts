import * as tf from '@tensorflow/tfjs-core';
import {
  availableBackends,
  BackendName,
  createReferenceCnn,
  currentBackendInfo,
  DataParallelTrainer,
  initBackend,
  layerZooLoss,
  layerZooParams,
  LayerZooShape,
  randomReferenceBatch,
  REFERENCE_CNN,
  referenceCnnFlops,
  referenceCnnModulePath,
  timeInnerKernels,
  toTensors,
  useBackend,
  WASM_KERNEL_CONFIGS,
} from '../../../../libs/compute/src';
import { BenchFigures, BenchOptions, BenchSuite } from './suite';
import { requirePeerPython } from './peer';
import { runTrainPeerComparison } from './train-peer';

const BATCH = 16;
/**
 * The cpu backend's Conv2DBackpropFilter is a scalar loop (~1000× slower than wasm): a batch-16
 * step would take many minutes. Its GFLOP/s is measured on a batch of 1 (FLOPs scale with the
 * batch, so the rate stays comparable).
 */
const CPU_BATCH = 1;
const LEARNING_RATE = 0.01;

interface BackendRun {
  backend: BackendName;
  batch: number;
  stepMs: number;
  /** Fastest timed step: what the code does when this noisy VM gives it the core undisturbed. */
  bestStepMs?: number;
  gflops: number;
  imagesPerS: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Step time on one backend: a warm-up step (kernel setup, wasm operator caches), then timed ones. */
async function timeBackend(backend: BackendName, steps: number, batchSize: number): Promise<BackendRun> {
  await useBackend(backend);
  const model = createReferenceCnn();
  const optimizer = tf.train.sgd(LEARNING_RATE);
  const batch = toTensors(randomReferenceBatch(REFERENCE_CNN, batchSize, 1));
  const step = () => {
    const loss = optimizer.minimize(() => model.loss(batch), true, model.variables);
    loss?.dataSync();
    loss?.dispose();
  };
  step();
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    step();
    times.push(performance.now() - t0);
  }
  model.dispose();
  optimizer.dispose();
  tf.dispose(Object.values(batch));
  const stepMs = median(times);
  const flops = referenceCnnFlops(REFERENCE_CNN, batchSize).training;
  return {
    backend,
    batch: batchSize,
    stepMs,
    bestStepMs: Math.min(...times),
    gflops: flops / (stepMs / 1000) / 1e9,
    imagesPerS: batchSize / (stepMs / 1000),
  };
}

interface KernelShare {
  name: string;
  ms: number;
  share: number;
  replaced: boolean;
}

/** Where one wasm training step spends its time, by tfjs kernel (replacements marked). */
async function wasmKernelBreakdown(): Promise<{ kernels: KernelShare[]; inner: Map<string, number> }> {
  await useBackend('wasm');
  const model = createReferenceCnn();
  const optimizer = tf.train.sgd(LEARNING_RATE);
  const batch = toTensors(randomReferenceBatch(REFERENCE_CNN, BATCH, 1));
  const step = () => optimizer.minimize(() => model.loss(batch), true, model.variables)?.dispose();
  step();
  const inner = timeInnerKernels(true);
  inner.clear();
  const profile = await tf.profile(step);
  timeInnerKernels(false);
  const byName = new Map<string, number>();
  for (const k of profile.kernels) {
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    byName.set(k.name, (byName.get(k.name) ?? 0) + ms);
  }
  model.dispose();
  optimizer.dispose();
  tf.dispose(Object.values(batch));
  const total = [...byName.values()].reduce((a, b) => a + b, 0);
  const replaced = new Set(WASM_KERNEL_CONFIGS.map((c) => c.kernelName));
  const kernels = [...byName.entries()]
    .map(([name, ms]) => ({ name, ms, share: ms / total, replaced: replaced.has(name) }))
    .sort((a, b) => b.ms - a.ms);
  return { kernels, inner };
}

/**
 * Images/s with 1 and with 2 replicas (one wasm instance each). Both trainers stay up and their
 * steps alternate, so load from other processes hits both measurements alike.
 */
interface WorkerTiming {
  imagesPerS: number;
  /** Median step time, and the slowest shard's compute inside it (the rest is split/sum/apply). */
  stepMs: number;
  computeMs: number;
  /** Items per worker in the last step (the split follows measured worker speed). */
  shardSizes: number[];
}

async function timeWorkers(steps: number): Promise<{ one: WorkerTiming; two: WorkerTiming }> {
  const start = (workers: number) =>
    DataParallelTrainer.start({
      workers,
      model: { modulePath: referenceCnnModulePath(), config: REFERENCE_CNN },
      optimizer: { kind: 'sgd', learningRate: LEARNING_RATE },
    });
  const one = await start(1);
  const two = await start(2);
  try {
    const batch = randomReferenceBatch(REFERENCE_CNN, BATCH, 1);
    // Warm-up: kernel set-up, and two steps for the shard balancer to time each worker.
    for (let i = 0; i < 2; i++) {
      await one.step(batch);
      await two.step(batch);
    }
    const times: [number[], number[]] = [[], []];
    const compute: [number[], number[]] = [[], []];
    const shards: [number[], number[]] = [[], []];
    for (let i = 0; i < steps; i++) {
      for (const [k, trainer] of [one, two].entries()) {
        const t0 = performance.now();
        const result = await trainer.step(batch);
        times[k].push(performance.now() - t0);
        compute[k].push(Math.max(...result.computeMs));
        shards[k] = result.shardSizes;
      }
    }
    const timing = (k: 0 | 1): WorkerTiming => ({
      imagesPerS: BATCH / (median(times[k]) / 1000),
      stepMs: median(times[k]),
      computeMs: median(compute[k]),
      shardSizes: shards[k],
    });
    return { one: timing(0), two: timing(1) };
  } finally {
    await Promise.all([one.close(), two.close()]);
  }
}

const ZOO: LayerZooShape = { batch: 16, size: 32, inChannels: 4, channels: 48, heads: 4, phases: 6 };

/**
 * Forward and backward kernel times of the layer zoo (every pHCC-SSL layer type at a realistic
 * size) on wasm: the place to spot a slow or missing kernel before the model hits it.
 */
async function layerZooBreakdown(): Promise<{ name: string; forwardMs: number; backwardMs: number }[]> {
  await useBackend('wasm');
  const host = layerZooParams(ZOO, 3);
  const names = Object.keys(host);
  const params = names.map((n) => tf.tensor(host[n].values, host[n].shape));
  const x = tf.randomNormal([ZOO.batch, ZOO.size, ZOO.size, ZOO.inChannels]) as tf.Tensor4D;
  const ids = tf.tensor1d(
    Array.from({ length: ZOO.phases }, (_, i) => i),
    'int32',
  );
  const y = tf.tensor1d(Array.from({ length: ZOO.batch }, (_, i) => i % 2));
  const loss = (...ps: tf.Tensor[]) =>
    layerZooLoss(ZOO, Object.fromEntries(names.map((n, i) => [n, ps[i]])), x, ids, y);
  const forward = () => loss(...params);
  const step = () => tf.grads(loss)(params);
  tf.dispose([forward(), ...step()]); // warm-up
  const byName = async (f: () => tf.TensorContainer) => {
    const times = new Map<string, number>();
    const profile = await tf.profile(() => {
      tf.dispose(f());
    });
    for (const k of profile.kernels) {
      times.set(k.name, (times.get(k.name) ?? 0) + (typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0));
    }
    return times;
  };
  const fwd = await byName(forward);
  const all = await byName(step);
  tf.dispose([...params, x, ids, y]);
  return [...all.entries()]
    .map(([name, ms]) => ({
      name,
      forwardMs: fwd.get(name) ?? 0,
      backwardMs: Math.max(0, ms - (fwd.get(name) ?? 0)),
    }))
    .sort((a, b) => b.forwardMs + b.backwardMs - (a.forwardMs + a.backwardMs));
}

const fmt = (x: number, digits = 1) => x.toFixed(digits);

/**
 * The ceiling of this machine, this run: a 1024³ matmul on the wasm backend, best of 5 — our
 * packed GEMM (FMA where the engine has relaxed SIMD) when the SIMD helpers load, else XNNPACK's.
 * Training GFLOP/s divided by it is comparable across machines and loads; the absolute figure
 * is not (this VM kind drifts by ±30 % over minutes).
 */
async function wasmMatmulGflops(): Promise<number> {
  await useBackend('wasm');
  const n = 1024;
  const [a, b] = [tf.randomNormal([n, n]), tf.randomNormal([n, n])];
  let best = Infinity;
  for (let i = 0; i < 6; i++) {
    const t0 = performance.now();
    const c = tf.matMul(a, b);
    c.dataSync();
    c.dispose();
    if (i > 0) best = Math.min(best, performance.now() - t0);
  }
  tf.dispose([a, b]);
  return (2 * n ** 3) / (best / 1000) / 1e9;
}

export const trainBench: BenchSuite = {
  async run({ log, print, quick, backend: forced, peer }: BenchOptions): Promise<BenchFigures> {
    // --peer without a Python that has torch: say so now, not after the suite's other sections.
    if (peer !== undefined && peer !== false) requirePeerPython(typeof peer === 'string' ? peer : undefined);
    const chosen = await initBackend({ log, backend: forced });
    if (forced)
      print(`(--backend ${forced} is the process default; this suite still times every installed backend)`);
    const flops = referenceCnnFlops(REFERENCE_CNN, BATCH);
    print(
      `reference CNN: ${REFERENCE_CNN.imageSize}×${REFERENCE_CNN.imageSize}×${REFERENCE_CNN.inChannels}, ` +
        `3×3 convs ${REFERENCE_CNN.widths.join('-')} (stride-2 between stages), batch ${BATCH}, SGD; ` +
        `${fmt(flops.training / 1e9, 2)} GFLOP per training step (3 × forward)`,
    );
    const runs: BackendRun[] = [];
    for (const backend of availableBackends()) {
      // cpu: one timed step after the warm-up is enough for a ratio.
      const steps = backend === 'cpu' ? 1 : quick ? 3 : 8;
      const run = await timeBackend(backend, steps, backend === 'cpu' ? CPU_BATCH : BATCH);
      runs.push(run);
      log.info({ backend, stepMs: run.stepMs }, 'backend timed');
    }
    const cpu = runs.find((r) => r.backend === 'cpu')!;
    print('');
    print('backend      batch   step ms   GFLOP/s   images/s   × cpu');
    for (const r of runs) {
      print(
        `${r.backend.padEnd(12)} ${String(r.batch).padStart(5)}   ${fmt(r.stepMs, 0).padStart(7)}   ${fmt(r.gflops, 2).padStart(7)}   ` +
          `${fmt(r.imagesPerS).padStart(8)}   ${fmt(r.gflops / cpu.gflops).padStart(5)}`,
      );
    }
    print(
      `(cpu runs batch ${CPU_BATCH}: its filter-gradient kernel is a scalar loop, batch ${BATCH} would take minutes)`,
    );
    const wasm = runs.find((r) => r.backend === 'wasm');
    const native = runs.find((r) => r.backend === 'tensorflow');
    const matmulCeiling = wasm ? await wasmMatmulGflops() : null;
    if (wasm?.bestStepMs) {
      print(
        `wasm best of ${quick ? 3 : 8} steps: ${fmt(wasm.bestStepMs, 0)} ms = ` +
          `${fmt(flops.training / (wasm.bestStepMs / 1000) / 1e9, 2)} GFLOP/s (the table shows the median)`,
      );
    }
    if (wasm && matmulCeiling) {
      print(
        `wasm matmul 1024³ (the ceiling of the GEMM the kernels use, same run): ${fmt(matmulCeiling)} GFLOP/s; ` +
          `wasm training runs at ${fmt((100 * wasm.gflops) / matmulCeiling, 0)} % of it`,
      );
    }

    const figures: BenchFigures = {
      train_gflop_per_step: flops.training / 1e9,
      cpu_gflops: cpu.gflops,
      cpu_images_per_s: cpu.imagesPerS,
      wasm_gflops: wasm?.gflops ?? null,
      wasm_images_per_s: wasm?.imagesPerS ?? null,
      ratio_wasm_cpu: wasm ? wasm.gflops / cpu.gflops : null,
      tensorflow_gflops: native?.gflops ?? null,
      wasm_gflops_best_step: wasm?.bestStepMs ? flops.training / (wasm.bestStepMs / 1000) / 1e9 : null,
      wasm_matmul_gflops: matmulCeiling,
      wasm_train_over_matmul: wasm && matmulCeiling ? wasm.gflops / matmulCeiling : null,
      workers_speedup: null,
    };

    if (wasm) {
      const helpers = (await useBackend('wasm')).helpers ?? 'none';
      figures.wasm_kernel_helpers = helpers;
      print(`wasm kernel helpers: ${helpers}`);
      const { kernels, inner } = await wasmKernelBreakdown();
      print('');
      print('wasm kernels in one training step (tf.profile; * = ours, from libs/compute/src/wasm/kernels):');
      for (const k of kernels.filter((k) => k.share >= 0.01)) {
        print(
          `  ${(k.replaced ? '*' : ' ') + k.name.padEnd(30)} ${fmt(k.ms).padStart(8)} ms  ${fmt(100 * k.share).padStart(5)} %`,
        );
      }
      const replacedShare = kernels.filter((k) => k.replaced).reduce((a, k) => a + k.share, 0);
      print(`  replacement kernels: ${fmt(100 * replacedShare)} % of kernel time; cpu fallback: none (0 %)`);
      if (inner.size) {
        print(
          '  inside the replacements: ' +
            [...inner.entries()]
              .sort((a, b) => b[1] - a[1])
              .map(([n, ms]) => `${n} ${fmt(ms)} ms`)
              .join(', '),
        );
      }
      figures.train_wasm_replaced_share = replacedShare;

      const zoo = await layerZooBreakdown();
      const zooTotal = zoo.reduce((a, k) => a + k.forwardMs + k.backwardMs, 0);
      print('');
      print(
        `layer zoo on wasm (every pHCC-SSL layer type; batch ${ZOO.batch}, ${ZOO.size}×${ZOO.size}, ` +
          `${ZOO.channels} channels, ${ZOO.heads} heads, ${ZOO.phases} phases): ${fmt(zooTotal)} ms per step`,
      );
      print('  kernel                          forward ms   backward ms');
      for (const k of zoo.filter((k) => k.forwardMs + k.backwardMs >= 0.01 * zooTotal)) {
        print(`  ${k.name.padEnd(30)} ${fmt(k.forwardMs).padStart(10)}   ${fmt(k.backwardMs).padStart(11)}`);
      }
      figures.train_zoo_step_ms = zooTotal;
      figures.train_cpu_fallback_share = 0;

      const steps = quick ? 3 : 9;
      const { one, two } = await timeWorkers(steps);
      figures.workers_1_images_per_s = one.imagesPerS;
      figures.workers_2_images_per_s = two.imagesPerS;
      figures.workers_speedup = two.imagesPerS / one.imagesPerS;
      print('');
      for (const [n, t] of [
        [1, one],
        [2, two],
      ] as const) {
        print(
          `  ${n} worker${n > 1 ? 's' : ' '}: step ${fmt(t.stepMs, 0)} ms, slowest shard's forward+backward ` +
            `${fmt(t.computeMs, 0)} ms (split, gradient sum and update: ${fmt(t.stepMs - t.computeMs, 0)} ms)` +
            (n > 1 ? `; last split ${t.shardSizes.join(' + ')} images (by measured worker speed)` : ''),
        );
      }
      print(
        `data-parallel workers (wasm, batch ${BATCH}): 1 worker ${fmt(one.imagesPerS)} images/s, 2 workers ${fmt(two.imagesPerS)} images/s, speed-up ${fmt(two.imagesPerS / one.imagesPerS, 2)}×`,
      );
      print('targets: wasm ≥ 15 GFLOP/s, ≥ 20× cpu; 2 workers ≥ 1.6× one');
      if (peer !== undefined && peer !== false) {
        Object.assign(
          figures,
          await runTrainPeerComparison({
            print,
            quick,
            python: typeof peer === 'string' ? peer : undefined,
            config: REFERENCE_CNN,
            batchSize: BATCH,
            learningRate: LEARNING_RATE,
          }),
        );
      }
    }
    // Leave the process on the backend initBackend chose.
    await useBackend(currentBackendInfo()?.name ?? chosen.name);
    return figures;
  },
};
