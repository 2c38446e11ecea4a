import * as tf from '@tensorflow/tfjs-core';
import { maskedDenseSwitch } from '../../../../libs/compute/src';
import { ModelConfig } from '../../../../libs/model/src/network';
import { StepSpec } from '../../../../libs/model/src/training/shard';
import { compareToggle } from './model-dispatch-cuts';
import { BenchFigures } from './suite';

/**
 * `bench model`'s before/after of the masked SSL step's row skipping (issue #19): the pointwise
 * layers on the rows that count only — the encoder's visible rows, the decoder's scored ones —
 * against all rows (`maskedDenseSwitch` off: dense layers, masked rows zeroed downstream). SSL only:
 * fine-tuning has no mask. Same alternation and figures as the dispatch cuts (model-dispatch-cuts.ts).
 */
export async function maskedRowsComparison(
  config: ModelConfig,
  batches: { ssl: StepSpec; finetune: StepSpec },
  options: { rounds: number; steps: number; print: (line: string) => void },
): Promise<BenchFigures> {
  // The row kernels are wasm's: elsewhere both settings run the same dense layers.
  if (tf.getBackend() !== 'wasm') return {};
  return compareToggle(
    { label: 'masked rows skipped', key: 'masked_rows', toggle: maskedDenseSwitch, stages: ['ssl'] },
    config,
    batches,
    options,
  );
}
