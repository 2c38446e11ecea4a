import * as tf from '@tensorflow/tfjs-core';
import { availableParallelism, loadavg } from 'node:os';
import { Rng } from '../../../../libs/common/src';
import { initBackend, wasmAdamWSwitch } from '../../../../libs/compute/src';
import {
  countFlops,
  ModelConfig,
  modelConfig,
  PhccModel,
  randomPatchMask,
} from '../../../../libs/model/src/network';
import {
  AdamW,
  balancedClassWeights,
  DEFAULT_FINETUNE_OPTIONS,
  DEFAULT_SSL_OPTIONS,
  DEFAULT_SSL_WEIGHTING,
  finetuneStep,
  gradientTensors,
  sslBatchLoss,
  sslStep,
  trainableParts,
} from '../../../../libs/model/src/training';
import { TfOpsAdamW } from '../../../../libs/model/src/training/adamw-reference';
import { ShardedStepper, ShardedStepTiming } from '../../../../libs/model/src/training/parallel';
import { StepSpec } from '../../../../libs/model/src/training/shard';
import { kernelClassTable } from './kernel-classes';
import { fusedNormComparison } from './model-fusion';
import { runPeerComparison } from './model-peer';
import { requirePeerPython } from './peer';
import { dispatchCutComparison } from './model-dispatch-cuts';
import { geluComparison } from './model-gelu';
import { maskedRowsComparison } from './model-masked-rows';
import { BenchFigures, BenchOptions, BenchSuite } from './suite';
import { ThreadedStage, ThreadedSteps } from './threaded-steps';

/** The target: `train --stage both` on 240 patients within 15 minutes on 2 cores. */
const TARGET_SECONDS = 15 * 60;
const COHORT = 240;
/** Share of the cohort that is labelled and in the training split (the synthetic default). */
const LABELLED_TRAIN_SHARE = 0.75;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Median seconds of `steps` calls after one warm-up call (kernel setup, caches, moments). */
async function timeIt(steps: number, step: () => unknown): Promise<number> {
  await step();
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    await step();
    times.push(performance.now() - t0);
  }
  return median(times) / 1000;
}

/**
 * Baseline measured in the same run: a plain float32 matmul of the size of stage 4's pointwise
 * layer. The model's achieved GFLOP/s over this one is the kernel efficiency, which is stable
 * across noisy machines where absolute figures are not.
 */
async function matmulGflops(steps: number): Promise<number> {
  const a = tf.randomUniform([64 * 8, 256], -1, 1, 'float32', 1);
  const b = tf.randomUniform([256, 768], -1, 1, 'float32', 2);
  const seconds = await timeIt(steps, () => {
    const product = tf.matMul(a, b);
    product.dataSync();
    product.dispose();
  });
  a.dispose();
  b.dispose();
  return (2 * 512 * 256 * 768) / seconds / 1e9;
}

function sslSpec(config: ModelConfig, rng: Rng, images: number): Extract<StepSpec, { stage: 'ssl' }> {
  const plane = config.imageSize * config.imageSize * config.inChannels;
  const grid = config.imageSize / config.patchSize;
  return {
    stage: 'ssl',
    batch: {
      images: Float32Array.from({ length: images * plane }, () => rng.normal()),
      mask: randomPatchMask(rng, images, grid, config.maskRatio),
      count: images,
    },
    weighting: DEFAULT_SSL_WEIGHTING,
  };
}

function finetuneSpec(
  config: ModelConfig,
  rng: Rng,
  patients: number,
): Extract<StepSpec, { stage: 'finetune' }> {
  const size = config.phases * config.imageSize * config.imageSize * config.inChannels;
  return {
    stage: 'finetune',
    batch: {
      patients: Float32Array.from({ length: patients * size }, () => rng.normal()),
      labels: Float32Array.from({ length: patients }, (_, i) => i % 2),
      count: patients,
    },
    options: {
      classWeights: balancedClassWeights(1, 1),
      encoderLrScale: DEFAULT_FINETUNE_OPTIONS.encoderLrScale,
    },
  };
}

/**
 * Seconds per optimiser update of SSL's parameters: the tf-op AdamW (before), the JS loop, and the
 * update on the wasm heap (`PHCC_WASM_ADAMW`), the last two alternated over rounds, from gradient
 * tensors (a one-process step) and from host arrays (what `--workers` applies).
 */
async function optimizerSeconds(
  config: ModelConfig,
  rng: Rng,
  steps: number,
): Promise<{ tfOps: number; js: number; heap: number; jsArrays: number; heapArrays: number }> {
  const model = new PhccModel(config, 1);
  const spec = sslSpec(config, rng, 2);
  const { grads } = gradientTensors(
    model,
    sslBatchLoss(model, spec.batch, spec.weighting),
    trainableParts('ssl'),
  );
  const arrays = new Map([...grads].map(([name, g]) => [name, g.dataSync() as Float32Array]));
  const reference = new TfOpsAdamW(model.params);
  const adamw = new AdamW(model.params);
  const saved = wasmAdamWSwitch.enabled;
  const times: Record<'js' | 'heap' | 'jsArrays' | 'heapArrays', number[]> = {
    js: [],
    heap: [],
    jsArrays: [],
    heapArrays: [],
  };
  try {
    const tfOps = await timeIt(steps, () => reference.apply(grads, 1e-4));
    for (let round = 0; round < 3; round++) {
      for (const heap of [false, true]) {
        wasmAdamWSwitch.enabled = heap;
        times[heap ? 'heap' : 'js'].push(await timeIt(steps, () => adamw.apply(grads, 1e-4)));
        times[heap ? 'heapArrays' : 'jsArrays'].push(
          await timeIt(steps, () => adamw.applyArrays(arrays, 1e-4)),
        );
      }
    }
    return {
      tfOps,
      js: median(times.js),
      heap: median(times.heap),
      jsArrays: median(times.jsArrays),
      heapArrays: median(times.heapArrays),
    };
  } finally {
    wasmAdamWSwitch.enabled = saved;
    reference.dispose();
    adamw.dispose();
    tf.dispose([...grads.values()]);
    model.dispose();
  }
}

interface WorkerFigures {
  ssl: number;
  finetune: number;
  /** The last timed SSL step of a sharded stepper, split up (undefined for 1 replica). */
  sslTiming?: ShardedStepTiming;
}

/** Images/s of both stages with `replicas` compute replicas (1 = the plain in-process step). */
async function replicaImagesPerS(
  config: ModelConfig,
  replicas: number,
  mainComputes: boolean,
  batches: { ssl: StepSpec; finetune: StepSpec },
  steps: number,
): Promise<WorkerFigures> {
  const model = new PhccModel(config, 1);
  const optimizer = new AdamW(model.params);
  const stepper = replicas > 1 ? await ShardedStepper.start({ replicas, config, mainComputes }) : undefined;
  try {
    const run = (spec: StepSpec) => async () => {
      if (stepper) return stepper.run(model, spec, optimizer, 1e-4);
      return spec.stage === 'ssl'
        ? sslStep(model, optimizer, spec.batch, spec.weighting, 1e-4)
        : finetuneStep(model, optimizer, spec.batch, spec.options, 1e-4);
    };
    const sslSeconds = await timeIt(steps, run(batches.ssl));
    const sslTiming = stepper?.timing;
    const ftSeconds = await timeIt(steps, run(batches.finetune));
    return {
      ssl: batches.ssl.batch.count / sslSeconds,
      finetune: (batches.finetune.batch.count * config.phases) / ftSeconds,
      sslTiming,
    };
  } finally {
    await stepper?.close();
    optimizer.dispose();
    model.dispose();
  }
}

/**
 * Our steps in one process with `threads` intra-op threads (a worker with a threaded backend):
 * images/s of SSL and fine-tune steps, and the inference speed-up (the fine-tune batch's forward
 * pass, as predict runs it) against the same worker with every call on one thread, alternated.
 */
async function intraOpImagesPerS(
  config: ModelConfig,
  threads: number,
  batches: { ssl: Extract<StepSpec, { stage: 'ssl' }>; finetune: Extract<StepSpec, { stage: 'finetune' }> },
  steps: number,
): Promise<{ ssl: number; finetune: number; inferSpeedup: number; threads: number }> {
  const worker = await ThreadedSteps.start(config, threads, batches);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  try {
    const seconds = async (stage: ThreadedStage, intraOp = true) =>
      mean((await worker.time(stage, steps, 1e-4, intraOp)).wall);
    const ssl = batches.ssl.batch.count / (await seconds('ssl'));
    const finetune = (batches.finetune.batch.count * config.phases) / (await seconds('finetune'));
    const ratios: number[] = [];
    for (let round = 0; round < 3; round++)
      ratios.push((await seconds('infer', false)) / (await seconds('infer')));
    return { ssl, finetune, inferSpeedup: median(ratios), threads: worker.threads };
  } finally {
    await worker.close();
  }
}

/** Engine kernel dispatches in one training step, by kernel name. */
type Dispatches = Map<string, number>;

/**
 * Kernels the tfjs engine dispatches in one step of `spec` (the second: the first also creates
 * the optimiser's moments), counted with `tf.profile`. Each dispatch pays the engine's per-kernel
 * overhead (tape, tensor bookkeeping), which fewer, larger kernels save; kernels a replacement
 * kernel runs inside itself (WasmOps) are not dispatches and are not counted.
 */
async function stepDispatches(config: ModelConfig, spec: StepSpec): Promise<Dispatches> {
  const model = new PhccModel(config, 1);
  const optimizer = new AdamW(model.params);
  const step = () =>
    spec.stage === 'ssl'
      ? sslStep(model, optimizer, spec.batch, spec.weighting, 1e-4)
      : finetuneStep(model, optimizer, spec.batch, spec.options, 1e-4);
  try {
    step();
    const profile = await tf.profile(() => {
      step();
    });
    const counts: Dispatches = new Map();
    for (const kernel of profile.kernels) counts.set(kernel.name, (counts.get(kernel.name) ?? 0) + 1);
    return counts;
  } finally {
    optimizer.dispose();
    model.dispose();
  }
}

function dispatchTotal(d: Dispatches): number {
  let total = 0;
  for (const n of d.values()) total += n;
  return total;
}

/** "1,612 (Mul 300, Add 250, …)": the total and the most frequent kernels. */
function describeDispatches(d: Dispatches, top = 6): string {
  const most = [...d.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, n]) => `${name} ${n}`);
  return `${dispatchTotal(d).toLocaleString('en-US')} (${most.join(', ')}, …)`;
}

/** Minutes of `train --stage both` on 240 patients at these speeds, with the default epochs. */
function projectedSeconds(config: ModelConfig, sslImagesPerS: number, ftImagesPerS: number): number {
  const sslEpochImages = COHORT * config.phases;
  const ftEpochImages = Math.round(COHORT * LABELLED_TRAIN_SHARE) * config.phases;
  return (
    (DEFAULT_SSL_OPTIONS.epochs * sslEpochImages) / sslImagesPerS +
    (DEFAULT_FINETUNE_OPTIONS.epochs * ftEpochImages) / ftImagesPerS
  );
}

export const modelBench: BenchSuite = {
  async run({ log, print, backend, quick, peer }: BenchOptions): Promise<BenchFigures> {
    // --peer without a Python that has torch: say so now, not after the kernel-class table.
    if (peer !== undefined && peer !== false) requirePeerPython(typeof peer === 'string' ? peer : undefined);
    const info = await initBackend({ backend, log });
    const config = modelConfig();
    const flops = countFlops(config);
    const steps = quick ? 2 : 5;
    const rng = new Rng(1);
    // The training defaults' batch sizes, halved under --quick.
    const sslImages = quick ? 16 : DEFAULT_SSL_OPTIONS.batchSize;
    const ftPatients = quick ? 4 : DEFAULT_FINETUNE_OPTIONS.batchSize;
    const batches = { ssl: sslSpec(config, rng, sslImages), finetune: finetuneSpec(config, rng, ftPatients) };
    const dispatches = {
      ssl: await stepDispatches(config, batches.ssl),
      finetune: await stepDispatches(config, batches.finetune),
    };
    print(
      `model: kernel dispatches per step (tfjs engine, backend ${info.name}): ` +
        `SSL ${describeDispatches(dispatches.ssl)}; fine-tune ${describeDispatches(dispatches.finetune)}`,
    );
    const dispatchFigures = {
      model_ssl_kernel_dispatches: dispatchTotal(dispatches.ssl),
      model_finetune_kernel_dispatches: dispatchTotal(dispatches.finetune),
      // Per kernel class: time, share of the step, GFLOP/s against the wasm GEMM ceiling (#19).
      ...(await kernelClassTable(config, batches, { quick, print, helpers: info.helpers })),
    };
    if (peer !== undefined && peer !== false) {
      // Side by side with PyTorch instead of the replica sections (those ratios come from the peer run).
      return {
        model_backend: info.name,
        ...dispatchFigures,
        ...(await runPeerComparison(config, batches, {
          print,
          quick,
          python: typeof peer === 'string' ? peer : undefined,
        })),
      };
    }

    const baseline = await matmulGflops(steps * 4);
    const optimizer = await optimizerSeconds(config, rng, steps * 2);
    const one = await replicaImagesPerS(config, 1, true, batches, steps);
    const two = await replicaImagesPerS(config, 2, true, batches, steps);
    const threadsOnly = await replicaImagesPerS(config, 2, false, batches, steps);
    const intraOp = await intraOpImagesPerS(config, 2, batches, steps);

    // A training step ≈ 3 × forward (forward + input and weight gradients).
    const sslGflops = (one.ssl * 3 * 2 * (flops.encoderMacs + flops.decoderMacs)) / 1e9;
    const ftGflops = (one.finetune * 3 * 2 * flops.encoderMacs) / 1e9;
    const projected = projectedSeconds(config, one.ssl, one.finetune);
    const projected2 = projectedSeconds(config, two.ssl, two.finetune);
    const fmt = (x: number, digits = 1) => x.toFixed(digits);

    print(
      `model: backend ${info.name}; encoder ${fmt((2 * flops.encoderMacs) / 1e6)} MFLOP/image forward; ` +
        `load average ${fmt(loadavg()[0], 2)} on ${availableParallelism()} cores (the speed-up needs free cores)`,
    );
    print(`  baseline matmul 512×256×768: ${fmt(baseline, 2)} GFLOP/s`);
    print(
      `  AdamW update of SSL's ${sslWeightCount(config)} weights: tf ops ${fmt(optimizer.tfOps * 1000)} ms → ` +
        `plain JS ${fmt(optimizer.js * 1000)} ms (${fmt(optimizer.tfOps / optimizer.js, 2)}× faster) → ` +
        `wasm heap ${fmt(optimizer.heap * 1000)} ms (${fmt(optimizer.js / optimizer.heap, 2)}× the JS); ` +
        `from host arrays (--workers): JS ${fmt(optimizer.jsArrays * 1000)} → heap ${fmt(optimizer.heapArrays * 1000)} ms ` +
        `(${fmt(optimizer.jsArrays / optimizer.heapArrays, 2)}×), alternated`,
    );
    print(
      `  SSL step (${sslImages} images), 1 process: ${fmt(one.ssl)} images/s, ${fmt(sslGflops, 2)} GFLOP/s ` +
        `(${fmt((100 * sslGflops) / baseline, 0)} % of matmul)`,
    );
    print(
      `  fine-tune step (${ftPatients} patients × ${config.phases}), 1 process: ${fmt(one.finetune)} images/s, ` +
        `${fmt(ftGflops, 2)} GFLOP/s (${fmt((100 * ftGflops) / baseline, 0)} % of matmul)`,
    );
    print(
      `  --workers 2 (main thread + 1 worker): SSL ${fmt(two.ssl)} images/s (${fmt(two.ssl / one.ssl, 2)}×), ` +
        `fine-tune ${fmt(two.finetune)} images/s (${fmt(two.finetune / one.finetune, 2)}×)`,
    );
    const t = two.sslTiming as ShardedStepTiming;
    const overheadMs = t.totalMs - Math.max(...t.computeMs) - t.combineMs - t.applyMs;
    print(
      `    last SSL step: shards ${t.computeMs.map((ms) => fmt(ms, 0)).join(' + ')} ms in parallel, ` +
        `combine ${fmt(t.combineMs)} ms, AdamW ${fmt(t.applyMs)} ms, messaging + weight hand-over ${fmt(overheadMs)} ms ` +
        `of ${fmt(t.totalMs, 0)} ms`,
    );
    print(
      `  2 worker threads, main only combines: SSL ${fmt(threadsOnly.ssl)} images/s (${fmt(threadsOnly.ssl / one.ssl, 2)}×), ` +
        `fine-tune ${fmt(threadsOnly.finetune)} images/s (${fmt(threadsOnly.finetune / one.finetune, 2)}×)`,
    );
    print(
      `  --wasm-threads 2 (one process, ${intraOp.threads} intra-op threads): SSL ${fmt(intraOp.ssl)} images/s ` +
        `(${fmt(intraOp.ssl / one.ssl, 2)}×), fine-tune ${fmt(intraOp.finetune)} images/s (${fmt(intraOp.finetune / one.finetune, 2)}×); ` +
        `inference (forward of the fine-tune batch) ${fmt(intraOp.inferSpeedup, 2)}× one thread, alternated`,
    );
    print(
      `  projected train --stage both, ${COHORT} patients, ${DEFAULT_SSL_OPTIONS.epochs}+${DEFAULT_FINETUNE_OPTIONS.epochs} epochs: ` +
        `1 process ${fmt(projected / 60)} min (ratio to the ${TARGET_SECONDS / 60}-min target ${fmt(projected / TARGET_SECONDS, 2)}), ` +
        `--workers 2 ${fmt(projected2 / 60)} min (ratio ${fmt(projected2 / TARGET_SECONDS, 2)})`,
    );
    const fusion = await fusedNormComparison(config, batches, {
      rounds: quick ? 2 : 5,
      steps: quick ? 1 : 3,
      print,
    });
    const saves = await dispatchCutComparison(config, batches, {
      rounds: quick ? 2 : 5,
      steps: quick ? 1 : 3,
      print,
    });
    const gelu = await geluComparison(config, batches, {
      rounds: quick ? 2 : 5,
      steps: quick ? 1 : 3,
      print,
    });
    const rows = await maskedRowsComparison(config, batches, {
      rounds: quick ? 2 : 5,
      steps: quick ? 1 : 3,
      print,
    });
    return {
      ...fusion,
      ...saves,
      ...gelu,
      ...rows,
      model_backend: info.name,
      ...dispatchFigures,
      model_load_average: loadavg()[0],
      model_encoder_mflop_per_image: (2 * flops.encoderMacs) / 1e6,
      model_baseline_matmul_gflops: baseline,
      model_adamw_tf_ops_ms: optimizer.tfOps * 1000,
      model_adamw_js_ms: optimizer.js * 1000,
      model_adamw_speedup: optimizer.tfOps / optimizer.js,
      model_adamw_heap_ms: optimizer.heap * 1000,
      model_adamw_heap_speedup: optimizer.js / optimizer.heap,
      model_adamw_arrays_js_ms: optimizer.jsArrays * 1000,
      model_adamw_arrays_heap_ms: optimizer.heapArrays * 1000,
      model_ssl_images_per_s: one.ssl,
      model_ssl_gflops: sslGflops,
      model_finetune_images_per_s: one.finetune,
      model_finetune_gflops: ftGflops,
      model_projected_train_both_s: projected,
      model_projected_vs_target: projected / TARGET_SECONDS,
      model_workers2_ssl_images_per_s: two.ssl,
      model_workers2_finetune_images_per_s: two.finetune,
      model_workers2_ssl_speedup: two.ssl / one.ssl,
      model_workers2_finetune_speedup: two.finetune / one.finetune,
      model_workers2_ssl_shard_ms: t.computeMs,
      model_workers2_combine_ms: t.combineMs,
      model_workers2_apply_ms: t.applyMs,
      model_workers2_overhead_ms: overheadMs,
      model_intra_op2_ssl_images_per_s: intraOp.ssl,
      model_intra_op2_finetune_images_per_s: intraOp.finetune,
      model_intra_op2_ssl_speedup: intraOp.ssl / one.ssl,
      model_intra_op2_finetune_speedup: intraOp.finetune / one.finetune,
      model_intra_op2_inference_speedup: intraOp.inferSpeedup,
      model_threads2_ssl_images_per_s: threadsOnly.ssl,
      model_threads2_finetune_images_per_s: threadsOnly.finetune,
      model_projected_train_both_workers2_s: projected2,
      model_projected_workers2_vs_target: projected2 / TARGET_SECONDS,
    };
  },
};

/** SSL's trained weight count (encoder + decoder), for the optimiser line. */
function sslWeightCount(config: ModelConfig): string {
  const m = new PhccModel(config, 0);
  const n = m.params.count({ parts: trainableParts('ssl') });
  m.dispose();
  return n.toLocaleString('en-US');
}
