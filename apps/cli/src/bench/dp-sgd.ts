import { Rng } from '../../../../libs/common/src';
import { initBackend } from '../../../../libs/compute/src';
import { secureNormalNoise } from '../../../../libs/federated/src/privacy/dp/gaussian';
import { ModelConfig, modelConfig, PhccModel, TINY_MODEL } from '../../../../libs/model/src/network';
import {
  AdamW,
  balancedClassWeights,
  DEFAULT_FINETUNE_OPTIONS,
  dpSgdFinetuneStep,
  FinetuneBatch,
  finetuneStep,
} from '../../../../libs/model/src/training';
import { BenchFigures, BenchSuite } from './suite';

/** A clip most patients reach and σ = 1: the cost does not depend on either, only on the batch. */
const DP = { clip: 1, noiseMultiplier: 1 };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function randomBatch(config: ModelConfig, count: number): FinetuneBatch {
  const rng = new Rng(1);
  const size = config.phases * config.imageSize * config.imageSize * config.inChannels;
  return {
    patients: Float32Array.from({ length: count * size }, () => rng.normal()),
    labels: Float32Array.from({ length: count }, (_, i) => i % 2),
    count,
  };
}

/**
 * Median seconds of the plain and the DP-SGD fine-tune step on the same batch, interleaved
 * (plain, DP, plain, DP, …) after one warm-up of each, so load from other processes on this
 * shared machine hits both alike and the ratio holds where absolute times do not.
 */
function stepSeconds(config: ModelConfig, count: number, repeats: number): { plain: number; dp: number } {
  const model = new PhccModel(config, 1);
  const optimizer = new AdamW(model.params);
  const batch = randomBatch(config, count);
  const options = {
    classWeights: balancedClassWeights(1, 1),
    encoderLrScale: DEFAULT_FINETUNE_OPTIONS.encoderLrScale,
  };
  const noise = secureNormalNoise();
  const plain = () => finetuneStep(model, optimizer, batch, options, 1e-4);
  const dp = () => dpSgdFinetuneStep(model, optimizer, batch, options, DP, noise, 1e-4);
  const times = { plain: [] as number[], dp: [] as number[] };
  try {
    plain();
    dp();
    for (let r = 0; r < repeats; r++) {
      let t0 = performance.now();
      plain();
      times.plain.push(performance.now() - t0);
      t0 = performance.now();
      dp();
      times.dp.push(performance.now() - t0);
    }
  } finally {
    optimizer.dispose();
    model.dispose();
  }
  return { plain: median(times.plain) / 1000, dp: median(times.dp) / 1000 };
}

/**
 * `bench dp-sgd`: what record-level DP-SGD (per-patient clipping, libs/model/src/training/dp-sgd.ts)
 * costs over the plain fine-tune step on the same batch, for the tiny and the default model.
 * Baseline: the plain step, measured in the same run.
 */
export const dpSgdBench: BenchSuite = {
  async run({ log, print, backend, quick }): Promise<BenchFigures> {
    const info = await initBackend({ backend, log });
    const batchSize = quick ? 4 : DEFAULT_FINETUNE_OPTIONS.batchSize;
    const figures: BenchFigures = { dpsgd_backend: info.name, dpsgd_batch: batchSize };
    print(
      `  backend ${info.name}; fine-tune batch ${batchSize} patients; clip ${DP.clip}, σ ${DP.noiseMultiplier}`,
    );
    const sizes: [string, ModelConfig, number][] = [
      ['tiny', modelConfig(TINY_MODEL), quick ? 3 : 9],
      ['default', modelConfig(), quick ? 1 : 3],
    ];
    for (const [name, config, repeats] of sizes) {
      const { plain, dp } = stepSeconds(config, batchSize, repeats);
      print(
        `  ${name} model: plain step ${(plain * 1000).toFixed(0)} ms, DP-SGD step ${(dp * 1000).toFixed(0)} ms, ` +
          `ratio ${(dp / plain).toFixed(2)}×`,
      );
      figures[`dpsgd_${name}_plain_ms`] = plain * 1000;
      figures[`dpsgd_${name}_ms`] = dp * 1000;
      figures[`dpsgd_${name}_ratio`] = dp / plain;
    }
    return figures;
  },
};
