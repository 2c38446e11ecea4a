import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../../../libs/common/src';
import { DataParallelTrainer, initBackend } from '../../../../libs/model/src/backend';
import { countFlops, modelConfig, PhccModel, randomPatchMask } from '../../../../libs/model/src/network';
import {
  AdamW,
  balancedClassWeights,
  DEFAULT_FINETUNE_OPTIONS,
  DEFAULT_SSL_OPTIONS,
  DEFAULT_SSL_WEIGHTING,
  finetuneStep,
  phccTrainableModulePath,
  sslStep,
} from '../../../../libs/model/src/training';
import { BenchFigures, BenchOptions, BenchSuite } from './suite';

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

function timeIt(steps: number, step: () => void): number {
  step(); // warm-up: kernel setup, wasm caches, optimiser moments
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    step();
    times.push(performance.now() - t0);
  }
  return median(times) / 1000;
}

/**
 * Baseline measured in the same run: a plain float32 matmul of the size of stage 4's pointwise
 * layer. The model's achieved GFLOP/s over this one is the kernel efficiency, which is stable
 * across noisy machines where absolute figures are not.
 */
function matmulGflops(steps: number): number {
  const a = tf.randomUniform([64 * 8, 256], -1, 1, 'float32', 1);
  const b = tf.randomUniform([256, 768], -1, 1, 'float32', 2);
  const seconds = timeIt(steps, () => {
    const product = tf.matMul(a, b);
    product.dataSync();
    product.dispose();
  });
  a.dispose();
  b.dispose();
  return (2 * 512 * 256 * 768) / seconds / 1e9;
}

/**
 * The same SSL step through the backend's worker data-parallel trainer (one wasm replica per
 * core). It applies plain Adam, not our AdamW — close enough for throughput.
 */
async function dataParallelSslImagesPerS(images: number, workers: number, steps: number): Promise<number> {
  const rng = new Rng(2);
  const config = modelConfig();
  const trainer = await DataParallelTrainer.start({
    workers,
    model: { modulePath: phccTrainableModulePath(), config: { model: {}, seed: 1, stage: 'ssl' } },
    optimizer: { kind: 'adam', learningRate: 1e-4 },
  });
  try {
    const batch = {
      images: {
        shape: [images, config.imageSize, config.imageSize, config.inChannels],
        dtype: 'float32' as const,
        values: Float32Array.from({ length: images * config.imageSize ** 2 * config.inChannels }, () =>
          rng.normal(),
        ),
      },
      mask: {
        shape: [images, 8, 8],
        dtype: 'float32' as const,
        values: randomPatchMask(rng, images, 8, config.maskRatio),
      },
    };
    await trainer.step(batch);
    const times: number[] = [];
    for (let i = 0; i < steps; i++) {
      const t0 = performance.now();
      await trainer.step(batch);
      times.push(performance.now() - t0);
    }
    return images / (median(times) / 1000);
  } finally {
    await trainer.close();
  }
}

export const modelBench: BenchSuite = {
  name: 'model',
  description:
    'pHCC-SSL full-size training steps (SSL and fine-tune): images/s, GFLOP/s, projected train time',
  async run({ log, print, backend, quick }: BenchOptions): Promise<BenchFigures> {
    const info = await initBackend({ backend, log });
    const config = modelConfig();
    const flops = countFlops(config);
    const steps = quick ? 2 : 5;
    const rng = new Rng(1);
    const plane = config.imageSize * config.imageSize * config.inChannels;
    const random = (n: number): Float32Array => Float32Array.from({ length: n }, () => rng.normal());

    const model = PhccModel.create({}, 1);
    const optimizer = new AdamW(model.params);
    const sslImages = quick ? 8 : 16;
    const sslBatch = {
      images: random(sslImages * plane),
      mask: randomPatchMask(rng, sslImages, model.grid, config.maskRatio),
      count: sslImages,
    };
    const sslSeconds = timeIt(steps, () => sslStep(model, optimizer, sslBatch, DEFAULT_SSL_WEIGHTING, 1e-4));
    const ftPatients = 2;
    const ftBatch = {
      patients: random(ftPatients * config.phases * plane),
      labels: Float32Array.from([1, 0]),
      count: ftPatients,
    };
    const classWeights = balancedClassWeights(1, 1);
    const ftSeconds = timeIt(steps, () => finetuneStep(model, optimizer, ftBatch, { classWeights }, 1e-4));
    optimizer.dispose();
    model.dispose();
    const baseline = matmulGflops(steps * 4);
    const parallelSslImagesPerS = await dataParallelSslImagesPerS(sslImages, 2, steps);

    const sslImagesPerS = sslImages / sslSeconds;
    const ftImagesPerS = (ftPatients * config.phases) / ftSeconds;
    // A training step ≈ 3 × forward (forward + input and weight gradients).
    const sslGflops = (sslImagesPerS * 3 * 2 * (flops.encoderMacs + flops.decoderMacs)) / 1e9;
    const ftGflops = (ftImagesPerS * 3 * 2 * flops.encoderMacs) / 1e9;
    const sslEpochImages = COHORT * config.phases;
    const ftEpochImages = Math.round(COHORT * LABELLED_TRAIN_SHARE) * config.phases;
    const projected =
      (DEFAULT_SSL_OPTIONS.epochs * sslEpochImages) / sslImagesPerS +
      (DEFAULT_FINETUNE_OPTIONS.epochs * ftEpochImages) / ftImagesPerS;

    print(
      `model: backend ${info.name}; encoder ${((2 * flops.encoderMacs) / 1e6).toFixed(1)} MFLOP/image forward`,
    );
    print(`  baseline matmul 512×256×768: ${baseline.toFixed(2)} GFLOP/s`);
    print(
      `  SSL step (${sslImages} images):        ${sslImagesPerS.toFixed(1)} images/s, ` +
        `${sslGflops.toFixed(2)} GFLOP/s (${((100 * sslGflops) / baseline).toFixed(0)} % of matmul)`,
    );
    print(
      `  fine-tune step (${ftPatients} patients × ${config.phases}): ${ftImagesPerS.toFixed(1)} images/s, ` +
        `${ftGflops.toFixed(2)} GFLOP/s (${((100 * ftGflops) / baseline).toFixed(0)} % of matmul)`,
    );
    print(
      `  projected train --stage both, ${COHORT} patients, ${DEFAULT_SSL_OPTIONS.epochs}+${DEFAULT_FINETUNE_OPTIONS.epochs} ` +
        `epochs: ${(projected / 60).toFixed(1)} min (target ${TARGET_SECONDS / 60} min, ratio ${(projected / TARGET_SECONDS).toFixed(2)})`,
    );
    print(
      `  SSL step, 2 worker replicas (data-parallel): ${parallelSslImagesPerS.toFixed(1)} images/s ` +
        `(${(parallelSslImagesPerS / sslImagesPerS).toFixed(2)}× one process)`,
    );
    const parallelProjected = projected / (parallelSslImagesPerS / sslImagesPerS);
    print(
      `  projected with 2 workers (both stages scaled by the SSL speed-up): ${(parallelProjected / 60).toFixed(1)} min ` +
        `(ratio ${(parallelProjected / TARGET_SECONDS).toFixed(2)})`,
    );
    return {
      model_backend: info.name,
      model_encoder_mflop_per_image: (2 * flops.encoderMacs) / 1e6,
      model_baseline_matmul_gflops: baseline,
      model_ssl_images_per_s: sslImagesPerS,
      model_ssl_gflops: sslGflops,
      model_finetune_images_per_s: ftImagesPerS,
      model_finetune_gflops: ftGflops,
      model_projected_train_both_s: projected,
      model_projected_vs_target: projected / TARGET_SECONDS,
      model_ssl_images_per_s_2workers: parallelSslImagesPerS,
      model_projected_train_both_2workers_s: parallelProjected,
      model_projected_2workers_vs_target: parallelProjected / TARGET_SECONDS,
    };
  },
};
