import * as tf from '@tensorflow/tfjs-core';
import { depthwiseKeptSwitch, maskedDenseSwitch } from '../../../../libs/compute/src';
import { keptRowsBlockSwitch, ModelConfig } from '../../../../libs/model/src/network';
import { StepSpec } from '../../../../libs/model/src/training/shard';
import { compareToggle } from './model-dispatch-cuts';
import { BenchFigures } from './suite';

/**
 * `bench model`'s before/after of the masked SSL step's row skipping (issue #19): the pointwise
 * layers on the rows that count only — the encoder's visible rows, the decoder's scored ones —
 * against all rows (`maskedDenseSwitch` off: dense layers, masked rows zeroed downstream). SSL only:
 * fine-tuning has no mask. Same alternation and figures as the dispatch cuts (model-dispatch-cuts.ts).
 * Then, rows skipped, the encoder blocks on their kept rows gathered once (`keptRowsBlockSwitch`),
 * and in them the sparse depthwise conv (`depthwiseKeptSwitch`).
 */
export async function maskedRowsComparison(
  config: ModelConfig,
  batches: { ssl: StepSpec; finetune: StepSpec },
  options: { rounds: number; steps: number; print: (line: string) => void },
): Promise<BenchFigures> {
  // The row kernels are wasm's: elsewhere both settings run the same dense layers.
  if (tf.getBackend() !== 'wasm') return {};
  const rows = await compareToggle(
    { label: 'masked rows skipped', key: 'masked_rows', toggle: maskedDenseSwitch, stages: ['ssl'] },
    config,
    batches,
    options,
  );
  // With the rows skipped, each encoder block after its depthwise conv on the kept rows gathered
  // once (LayerNorm, GELU and GRN on them too) against a gather and scatter per pointwise layer.
  const block = await compareToggle(
    { label: 'kept-rows blocks', key: 'kept_rows_block', toggle: keptRowsBlockSwitch, stages: ['ssl'] },
    config,
    batches,
    options,
  );
  // And in those blocks, the depthwise conv on the kept pixels only (the sparse conv) against
  // every pixel's conv followed by the row gather.
  const sparse = await compareToggle(
    { label: 'sparse depthwise conv', key: 'sparse_depthwise', toggle: depthwiseKeptSwitch, stages: ['ssl'] },
    config,
    batches,
    options,
  );
  return { ...rows, ...block, ...sparse };
}
