import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../../common/src';
import { initBackend, wasmAdamWAvailable, wasmAdamWSwitch } from '../../../compute/src';
import { PhccModel } from '../network/model';
import { TINY } from '../__tests__/tiny-config';
import { TfOpsAdamW } from './adamw-reference';
import { AdamW, cosineLr, createOptimizer, SgdMomentum } from './optimizer';
import { warmupCosineLr } from '../../../federated/src/schedule/lr-schedule';
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

/** Runs `body` with AdamW updating on the wasm heap (true) or in the JS loop (false). */
function withHeapUpdate<T>(on: boolean, body: () => T): T {
  const saved = wasmAdamWSwitch.enabled;
  wasmAdamWSwitch.enabled = on;
  try {
    return body();
  } finally {
    wasmAdamWSwitch.enabled = saved;
  }
}

describe.each([
  ['on the wasm heap', true],
  ['in the JS loop', false],
])('AdamW updating %s', (_, heap) => {
  beforeEach(() => {
    wasmAdamWSwitch.enabled = heap;
    expect(wasmAdamWAvailable()).toBe(heap);
  });
  afterEach(() => {
    wasmAdamWSwitch.enabled = true;
  });

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

  it('rejects a gradient of the wrong size; holds only its moments (two per parameter on the heap) until disposed', () => {
    const model = PhccModel.create(TINY, 1);
    const opt = new AdamW(model.params);
    const name = model.params.names({ parts: ['head'] })[0];
    expect(() => opt.applyArrays(new Map([[name, new Float32Array(1)]]), 1e-3)).toThrow(/has 1 values/);
    expect(() => opt.apply(new Map([[name, tf.zeros([1])]]), 1e-3)).toThrow(/has 1 values/);
    const before = tf.memory().numTensors;
    for (const seed of [1, 2]) {
      const grads = randomGrads(model, [name], new Rng(seed), 1);
      opt.apply(grads, 1e-3);
      opt.applyArrays(new Map([[name, grads.get(name)!.dataSync() as Float32Array]]), 1e-3);
      tf.dispose([...grads.values()]);
      expect(tf.memory().numTensors).toBe(before + (heap ? 2 : 0));
    }
    opt.dispose();
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});

describe("AdamW on the wasm heap gives the JS loop's bits", () => {
  afterEach(() => {
    wasmAdamWSwitch.enabled = true;
  });

  /** Every weight's and moment's bytes, and the norms, after the same steps in one mode. */
  function trained(heap: boolean, epsilon = 1e-8) {
    return withHeapUpdate(heap, () => {
      const model = PhccModel.create(TINY, 1);
      const opt = new AdamW(model.params, { weightDecay: 0.1, clipNorm: 1, epsilon });
      const rng = new Rng(11);
      const head = model.params.names({ parts: ['head'] });
      const all = model.params.names({ parts: ['encoder', 'head'] });
      const scaler = encoderLrScaler(0.25);
      const norms: number[] = [];
      // Head only, then everything; tensors and host arrays; clipped (10) and not (1e-3, 0.01).
      const plan: [string[], number, 'tensors' | 'arrays'][] = [
        [head, 1e-3, 'tensors'],
        [all, 10, 'arrays'],
        [all, 1e-3, 'tensors'],
        [all, 0.01, 'arrays'],
        [all, 10, 'tensors'],
      ];
      for (const [names, scale, form] of plan) {
        const grads = randomGrads(model, names, rng, scale);
        const arrays = new Map([...grads].map(([n, g]) => [n, g.dataSync() as Float32Array]));
        norms.push(
          form === 'tensors' ? opt.apply(grads, 3e-3, scaler) : opt.applyArrays(arrays, 3e-3, scaler),
        );
        tf.dispose([...grads.values()]);
      }
      const state = opt.exportState();
      const bytes = Buffer.concat([
        ...model.params.getWeights().map((w) => Buffer.from(w.values.buffer)),
        ...state.params.flatMap((p) => p.buffers.map((b) => Buffer.from(b.buffer))),
      ]);
      opt.dispose();
      model.dispose();
      return { norms, bytes, state };
    });
  }

  it('weights, moments and gradient norms, bit for bit, over clipped and unclipped steps', () => {
    const js = trained(false);
    const heap = trained(true);
    expect(heap.norms).toEqual(js.norms);
    expect(heap.bytes.equals(js.bytes)).toBe(true);
    // The comparison sees a small change: ε 1 % larger moves some bits.
    expect(trained(true, 1.01e-8).bytes.equals(js.bytes)).toBe(false);
  });

  it('a state saved from one continues in the other, bit for bit', () => {
    const steps = (heapFirst: boolean, heapThen: boolean) => {
      const model = PhccModel.create(TINY, 1);
      const names = model.params.names({ parts: ['encoder', 'head'] });
      const rng = new Rng(5);
      const step = (opt: AdamW) => {
        const grads = randomGrads(model, names, rng, 0.01);
        opt.apply(grads, 2e-3);
        tf.dispose([...grads.values()]);
      };
      const first = new AdamW(model.params);
      withHeapUpdate(heapFirst, () => step(first));
      const second = new AdamW(model.params);
      second.importState(first.exportState());
      first.dispose();
      // A switch between steps moves the moments too (heap → host → heap).
      withHeapUpdate(heapThen, () => step(second));
      withHeapUpdate(!heapThen, () => step(second));
      withHeapUpdate(heapThen, () => step(second));
      second.dispose();
      const weights = Buffer.concat(model.params.getWeights().map((w) => Buffer.from(w.values.buffer)));
      model.dispose();
      return weights;
    };
    const reference = steps(false, false);
    expect(steps(true, true).equals(reference)).toBe(true);
    expect(steps(false, true).equals(reference)).toBe(true);
    expect(steps(true, false).equals(reference)).toBe(true);
  });
});

describe('optimiser state kept between calls (a site between federated rounds)', () => {
  /** Applies `steps` seeded random gradient steps to all encoder + head parameters. */
  function run(model: PhccModel, opt: { apply: AdamW['apply'] }, seed: number, steps: number): void {
    const rng = new Rng(seed);
    const names = model.params.names({ parts: ['encoder', 'head'] });
    for (let s = 0; s < steps; s++) {
      const grads = randomGrads(model, names, rng, 0.01);
      opt.apply(grads, 2e-3);
      tf.dispose([...grads.values()]);
    }
  }

  it.each(['adam', 'sgd'] as const)(
    '%s: 2 steps + export + import into a fresh optimiser + 2 steps = 4 steps in one go, bit for bit',
    (name) => {
      const a = PhccModel.create(TINY, 1);
      const b = PhccModel.create(TINY, 1);
      const once = createOptimizer(name, a.params, { weightDecay: 0.05 });
      run(a, once, 7, 2);
      run(a, once, 8, 2);
      const first = createOptimizer(name, b.params, { weightDecay: 0.05 });
      run(b, first, 7, 2);
      const saved = first.exportState();
      first.dispose();
      const second = createOptimizer(name, b.params, { weightDecay: 0.05 });
      second.importState(saved);
      run(b, second, 8, 2);
      expect(second.steps).toBe(4);
      expect(maxDiff(a, b).diff).toBe(0);
      // Without the state the second half differs: the moments matter.
      const c = PhccModel.create(TINY, 1);
      const fresh1 = createOptimizer(name, c.params, { weightDecay: 0.05 });
      run(c, fresh1, 7, 2);
      run(c, createOptimizer(name, c.params, { weightDecay: 0.05 }), 8, 2);
      expect(maxDiff(a, c).diff).toBeGreaterThan(0);
      [a, b, c].forEach((m) => m.dispose());
    },
  );

  it("refuses another optimiser's state and buffers that do not fit, naming the parameter", () => {
    const model = PhccModel.create(TINY, 1);
    const adam = new AdamW(model.params);
    run(model, adam, 1, 1);
    const state = adam.exportState();
    expect(() => new SgdMomentum(model.params).importState(state)).toThrow(/adam's, this optimiser is sgd/);
    const broken = {
      ...state,
      params: [{ ...state.params[0], buffers: [new Float32Array(1), new Float32Array(1)] }],
    };
    expect(() => new AdamW(model.params).importState(broken)).toThrow(
      new RegExp(`state of ${state.params[0].name} does not fit`),
    );
    const foreign = { ...state, params: [{ ...state.params[0], name: 'head/nope' }] };
    expect(() => new AdamW(model.params).importState(foreign)).toThrow(/head\/nope, which the model lacks/);
    model.dispose();
  });

  it('SGD: buf ← μ·buf + g, w ← (1 − lr·λ)·w − lr·buf on kernels (hand-computed two steps)', () => {
    const model = PhccModel.create(TINY, 1);
    const opt = new SgdMomentum(model.params, { momentum: 0.9, weightDecay: 0.1, clipNorm: 0 });
    const name = model.params.names({ parts: ['head'] }).find((n) => n.endsWith('/kernel'))!;
    const w0 = model.params.getWeights({ parts: ['head'] }).find((w) => w.name === name)!.values[0];
    const size = model.params.info(name).shape.reduce((a, b) => a * b, 1);
    const g = new Float32Array(size).fill(0.5);
    opt.applyArrays(new Map([[name, g]]), 0.1);
    opt.applyArrays(new Map([[name, g]]), 0.1);
    const w1 = 0.99 * w0 - 0.1 * 0.5;
    const w2 = 0.99 * w1 - 0.1 * (0.9 * 0.5 + 0.5);
    const now = model.params.getWeights({ parts: ['head'] }).find((w) => w.name === name)!.values[0];
    expect(now).toBeCloseTo(w2, 6);
    model.dispose();
  });
});

describe('one LR schedule', () => {
  it("libs/model's cosineLr is libs/federated's warm-up + cosine in steps", () => {
    for (const step of [0, 3, 9, 10, 55, 99, 150]) {
      expect(cosineLr(step, { baseLr: 1e-3, warmupSteps: 10, totalSteps: 100 })).toBe(
        warmupCosineLr(step, { baseLr: 1e-3, warmup: 10, total: 100 }),
      );
    }
  });
});
