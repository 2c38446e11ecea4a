import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../../../libs/common/src';
import { fastGeluSwitch, initBackend } from '../../../../libs/compute/src';
import { modelConfig, randomPatchMask, TINY_MODEL } from '../../../../libs/model/src/network';
import {
  balancedClassWeights,
  DEFAULT_FINETUNE_OPTIONS,
  DEFAULT_SSL_WEIGHTING,
} from '../../../../libs/model/src/training';
import { StepSpec } from '../../../../libs/model/src/training/shard';
import { geluComparison } from './model-gelu';

/** `bench model`'s GELU before/after on the tiny model: what it reports, and that it restores the switch. */
const config = modelConfig(TINY_MODEL);

function batches(): { ssl: StepSpec; finetune: StepSpec } {
  const rng = new Rng(5);
  const plane = config.imageSize * config.imageSize * config.inChannels;
  const grid = config.imageSize / config.patchSize;
  return {
    ssl: {
      stage: 'ssl',
      batch: {
        images: Float32Array.from({ length: 4 * plane }, () => rng.normal()),
        mask: randomPatchMask(rng, 4, grid, config.maskRatio),
        count: 4,
      },
      weighting: DEFAULT_SSL_WEIGHTING,
    },
    finetune: {
      stage: 'finetune',
      batch: {
        patients: Float32Array.from({ length: 2 * config.phases * plane }, () => rng.normal()),
        labels: Float32Array.from([0, 1]),
        count: 2,
      },
      options: {
        classWeights: balancedClassWeights(1, 1),
        encoderLrScale: DEFAULT_FINETUNE_OPTIONS.encoderLrScale,
      },
    },
  };
}

describe('bench model: GELU helpers before/after', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm' });
  });

  it.each([true, false])(
    'reports both settings per stage and leaves the switch as it found it (%s)',
    async (initial) => {
      fastGeluSwitch.fast = initial;
      const lines: string[] = [];
      try {
        const figures = await geluComparison(config, batches(), {
          rounds: 2,
          steps: 1,
          print: (l) => lines.push(l),
        });
        expect(fastGeluSwitch.fast).toBe(initial);
        expect(lines).toHaveLength(2);
        expect(lines[0]).toMatch(/^ {2}GELU helpers \(PHCC_FAST_GELU off → on\), ssl step/);
        for (const stage of ['ssl', 'finetune']) {
          for (const s of ['off', 'on']) {
            const key = `model_fast_gelu_${stage}_${s}`;
            const written = figures[`${key}_ns_per_element_written`] as number;
            const computed = figures[`${key}_ns_per_element_computed`] as number;
            expect(written).toBeGreaterThan(0);
            expect(figures[`${key}_images_per_s_cpu`]).toBeGreaterThan(0);
            // SSL's blocks run GELU on their kept rows alone (compact), so every element written
            // is computed; the masked kernels (which write zeros they do not compute) run only
            // with the kept-rows blocks switched off.
            expect(computed).toBeCloseTo(written, 9);
          }
          expect(figures[`model_fast_gelu_${stage}_gelu_speedup_cpu`]).toBeGreaterThan(0);
        }
      } finally {
        fastGeluSwitch.fast = true;
      }
    },
  );

  it('reports nothing off the wasm backend', async () => {
    await tf.setBackend('cpu');
    try {
      expect(
        await geluComparison(config, batches(), { rounds: 1, steps: 1, print: () => undefined }),
      ).toEqual({});
    } finally {
      await tf.setBackend('wasm');
    }
  });
});
