import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../../common/src';
import {
  fusedDenseSwitch,
  initBackend,
  maskedDenseSwitch,
  maskedGeluSwitch,
  sharedSavesSwitch,
} from '../../../compute/src';
import { PhccModel, randomPatchMask, TINY_MODEL } from '../network';
import { balancedClassWeights, DEFAULT_SSL_WEIGHTING } from './losses';
import { finetuneBatchLoss, gradientTensors, sslBatchLoss, trainableParts } from './steps';

/**
 * The whole model with issue #19's dispatch cuts (wasm) — saved tensors shared without an Identity
 * dispatch, the masked encoder's GELU + mask multiply as one kernel, the dense layers as one
 * dispatch each way — gives bit for bit the loss
 * and gradients of the path without them, in masked SSL and in fine-tuning, and really takes them.
 */
beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

/** Tiny network, weights moved off their initial values (GRN γ, β ≠ 0). */
function tinyModel(): PhccModel {
  const model = PhccModel.create({ ...TINY_MODEL, phases: 2 }, 3);
  const rng = new Rng(9);
  model.params.setWeights(
    model.params.getWeights().map((w) => ({ ...w, values: w.values.map((v) => v + 0.1 * rng.normal()) })),
  );
  return model;
}

interface Run {
  loss: number;
  grads: number[];
  kernels: Map<string, number>;
}

async function run(model: PhccModel, stage: 'ssl' | 'finetune', cuts: boolean): Promise<Run> {
  const rng = new Rng(4);
  const { imageSize: s, inChannels: c, phases: t } = model.config;
  const pixels = (n: number) => Float32Array.from({ length: n * s * s * c }, () => rng.normal());
  const lossFn =
    stage === 'ssl'
      ? sslBatchLoss(
          model,
          { images: pixels(3), mask: randomPatchMask(rng, 3, model.grid, model.config.maskRatio), count: 3 },
          DEFAULT_SSL_WEIGHTING,
        )
      : finetuneBatchLoss(
          model,
          { patients: pixels(2 * t), labels: Float32Array.from([1, 0]), count: 2 },
          { classWeights: balancedClassWeights(1, 3) },
        );
  sharedSavesSwitch.enabled = cuts;
  maskedGeluSwitch.enabled = cuts;
  fusedDenseSwitch.enabled = cuts;
  // Row skipping is not a dispatch cut: it changes dW's summation order (masked-dense.spec.ts
  // compares it within 1e-5), so both sides here run every row, for a bit-for-bit comparison.
  maskedDenseSwitch.enabled = false;
  try {
    let result: { loss: number; grads: Map<string, tf.Tensor> } | undefined;
    const profile = await tf.profile(() => {
      result = gradientTensors(model, lossFn, trainableParts(stage));
    });
    const { loss, grads } = result!;
    // −0 and +0 alike: masked rows come out as +0 from the kernel, as ±0 from gelu · 0.
    const flat = [...grads.keys()]
      .sort()
      .flatMap((name) => Array.from(grads.get(name)!.dataSync(), (v) => v + 0));
    tf.dispose([...grads.values()]);
    const kernels = new Map<string, number>();
    for (const k of profile.kernels) kernels.set(k.name, (kernels.get(k.name) ?? 0) + 1);
    return { loss, grads: flat, kernels };
  } finally {
    sharedSavesSwitch.enabled = true;
    maskedGeluSwitch.enabled = true;
    fusedDenseSwitch.enabled = true;
    maskedDenseSwitch.enabled = true;
  }
}

describe.each(['ssl', 'finetune'] as const)('dispatch cuts in the %s step', (stage) => {
  it('give the same loss and gradients, bit for bit, with fewer dispatches', async () => {
    const model = tinyModel();
    const without = await run(model, stage, false);
    const withCuts = await run(model, stage, true);
    expect(withCuts.loss).toBe(without.loss);
    expect(withCuts.grads.some((v) => v !== 0)).toBe(true);
    expect(withCuts.grads).toEqual(without.grads);
    expect(without.kernels.get('Identity')).toBeGreaterThan(50);
    expect(withCuts.kernels.has('Identity')).toBe(false);
    const masked = stage === 'ssl';
    expect(withCuts.kernels.has('PhccMaskedGelu')).toBe(masked);
    expect(withCuts.kernels.has('PhccMaskedGeluGrad')).toBe(masked);
    expect(without.kernels.has('PhccMaskedGelu')).toBe(false);
    expect(withCuts.kernels.has('PhccDense')).toBe(true);
    expect(without.kernels.has('PhccDense')).toBe(false);
    expect(withCuts.kernels.get('Reshape')).toBeLessThan(without.kernels.get('Reshape')! / 2);
    if (masked) {
      expect(withCuts.kernels.get('Multiply')).toBeLessThan(without.kernels.get('Multiply')!);
      expect(withCuts.kernels.get('PhccGelu') ?? 0).toBeLessThan(without.kernels.get('PhccGelu')!);
    }
    model.dispose();
  });
});
