import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../../common/src';
import { initBackend } from '../../../compute/src';
import { PhccModel } from '../network/model';
import { TINY } from '../__tests__/tiny-config';
import { TfOpsAdamW } from './adamw-reference';
import { AdamW } from './optimizer';
import { encoderLrScaler } from './steps';

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});

/** Random gradients for the named parameters, scaled so that `scale` decides whether clipping acts. */
function randomGrads(model: PhccModel, names: string[], rng: Rng, scale: number): Map<string, tf.Tensor> {
  return new Map(
    names.map((name) => {
      const shape = model.params.info(name).shape;
      const size = shape.reduce((a, b) => a * b, 1);
      return [
        name,
        tf.tensor(
          Float32Array.from({ length: size }, () => rng.normal() * scale),
          shape,
        ),
      ];
    }),
  );
}

function maxDiff(a: PhccModel, b: PhccModel): { diff: number; moved: number } {
  const before = PhccModel.create(TINY, 1).params.getWeights();
  const wb = b.params.getWeights();
  let diff = 0;
  let moved = 0;
  a.params.getWeights().forEach((w, i) =>
    w.values.forEach((v, j) => {
      diff = Math.max(diff, Math.abs(v - wb[i].values[j]));
      moved = Math.max(moved, Math.abs(v - before[i].values[j]));
    }),
  );
  return { diff, moved };
}

describe('AdamW (plain-JS update)', () => {
  it('matches the tf-op formulation: clipping, decay on kernels only, LR scale, late-starting moments', () => {
    const a = PhccModel.create(TINY, 1);
    const b = PhccModel.create(TINY, 1);
    const js = new AdamW(a.params, { weightDecay: 0.1, clipNorm: 1 });
    const reference = new TfOpsAdamW(b.params, { weightDecay: 0.1, clipNorm: 1 });
    const rng = new Rng(3);
    const head = a.params.names({ parts: ['head'] });
    const all = a.params.names({ parts: ['encoder', 'head'] });
    const scaler = encoderLrScaler(0.25);
    // Head only first (a frozen-encoder warm-up), then encoder + head; large gradients are clipped.
    const plan: [string[], number][] = [
      [head, 0.001],
      [head, 10],
      [all, 0.001],
      [all, 10],
      [all, 0.01],
    ];
    for (const [names, scale] of plan) {
      const grads = randomGrads(a, names, rng, scale);
      const normJs = js.apply(grads, 3e-3, scaler);
      const normTf = reference.apply(grads, 3e-3, scaler);
      expect(normJs).toBeCloseTo(normTf, 3);
      tf.dispose([...grads.values()]);
    }
    expect(js.steps).toBe(plan.length);
    const { diff, moved } = maxDiff(a, b);
    expect(moved).toBeGreaterThan(5e-3);
    expect(diff).toBeLessThan(1e-6);
    js.dispose();
    reference.dispose();
    [a, b].forEach((m) => m.dispose());
  });

  it('decays kernels but not biases or norms, even with a zero gradient', () => {
    const model = PhccModel.create(TINY, 1);
    const opt = new AdamW(model.params, { weightDecay: 0.5 });
    const names = model.params.names({ parts: ['head'] });
    const before = new Map(model.params.getWeights({ parts: ['head'] }).map((w) => [w.name, w.values]));
    const zeros = new Map(names.map((n) => [n, new Float32Array(before.get(n)!.length)]));
    opt.applyArrays(zeros, 0.1);
    for (const w of model.params.getWeights({ parts: ['head'] })) {
      const old = before.get(w.name)!;
      const kernel = w.name.endsWith('/kernel') && w.shape.length >= 2;
      w.values.forEach((v, i) => expect(v).toBeCloseTo(kernel ? old[i] * (1 - 0.1 * 0.5) : old[i], 6));
    }
    model.dispose();
  });

  it('rejects a gradient of the wrong size and leaves the tensor count unchanged', () => {
    const model = PhccModel.create(TINY, 1);
    const opt = new AdamW(model.params);
    const name = model.params.names({ parts: ['head'] })[0];
    expect(() => opt.applyArrays(new Map([[name, new Float32Array(1)]]), 1e-3)).toThrow(/has 1 values/);
    const before = tf.memory().numTensors;
    const grads = randomGrads(model, [name], new Rng(1), 1);
    opt.apply(grads, 1e-3);
    tf.dispose([...grads.values()]);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});
