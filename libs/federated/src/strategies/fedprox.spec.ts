import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { runRound, tensor, valuesOf } from '../__tests__/harness';
import { proximalGradient, proximalTerm } from '../proximal';
import { proximalLoss } from '../proximal-tf';
import { createStrategy } from './registry';
import { FedAvg } from './fedavg';
import { FedProx } from './fedprox';

describe('FedProx', () => {
  beforeAll(async () => {
    tf.env().set('IS_TEST', true); // no "install tfjs-node" banner in test output
    await tf.setBackend('cpu');
  });

  it('sends μ to every site and aggregates like FedAvg', async () => {
    const strategy = new FedProx({ mu: 0.1 });
    expect(strategy.configureFit(1, { stage: 'ssl', siteIds: ['a', 'b'] }).map((i) => i.proximalMu)).toEqual([
      0.1, 0.1,
    ]);
    expect(new FedProx().mu).toBe(0.01);
    const global = [tensor('encoder/w', [1, 2])];
    const updates = [
      { siteId: 'a', numSamples: 1, arrays: [tensor('encoder/w', [1, 1])] },
      { siteId: 'b', numSamples: 3, arrays: [tensor('encoder/w', [-1, 5])] },
    ];
    const prox = await runRound(strategy, 'ssl', global, updates);
    const avg = await runRound(new FedAvg(), 'ssl', global, updates);
    expect(valuesOf(prox.weights, 'encoder/w')).toEqual(valuesOf(avg.weights, 'encoder/w'));
    expect(() => new FedProx({ mu: -1 })).toThrow(/mu/);
  });

  it('computes the proximal term and its gradient (hand-computed)', () => {
    const params = [tensor('encoder/a', [1, 2]), tensor('head/b', [3])];
    const globals = [tensor('head/b', [1]), tensor('encoder/a', [0, 0])];
    // (0.5/2)·((1)² + (2)² + (2)²) = 0.25·9
    expect(proximalTerm(params, globals, 0.5)).toBeCloseTo(2.25, 12);
    expect(proximalTerm(params, globals, 0)).toBe(0);
    const grad = proximalGradient(params, globals, 0.5);
    expect(valuesOf(grad, 'encoder/a')).toEqual([0.5, 1]);
    expect(valuesOf(grad, 'head/b')).toEqual([1]);
  });

  it('gives tfjs autodiff the gradient μ·(w − w_global)', () => {
    const w = tf.variable(tf.tensor1d([1, 2, -3]));
    const v = tf.variable(tf.tensor2d([[4]]));
    const gw = tf.tensor1d([0, 1, 1]);
    const gv = tf.tensor2d([[2]]);
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(
      () =>
        proximalLoss(
          [
            { param: w, global: gw },
            { param: v, global: gv },
          ],
          0.2,
        ),
      [w, v],
    );
    // (0.2/2)·(1 + 1 + 16 + 4)
    expect(value.dataSync()[0]).toBeCloseTo(0.1 * 22, 6);
    const gradW = Array.from(grads[w.name].dataSync());
    [0.2, 0.2, -0.8].forEach((expected, i) => expect(gradW[i]).toBeCloseTo(expected, 6));
    expect(grads[v.name].dataSync()[0]).toBeCloseTo(0.4, 6);
    tf.dispose([value, grads[w.name], grads[v.name]]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([w, v, gw, gv]);
  });

  it('is created by name from a run plan', () => {
    expect(createStrategy({ name: 'fedprox', mu: 1 }).parameters.proximalMu).toBe(1);
    expect(createStrategy({ name: 'fedadam' }).name).toBe('fedadam');
    expect(createStrategy({ name: 'fedbn' }).parameters.keepLocal).not.toBeNull();
    expect(() => createStrategy({ name: 'fedsgd' } as unknown as { name: 'fedavg' })).toThrow(
      /unknown strategy "fedsgd"/,
    );
  });
});
