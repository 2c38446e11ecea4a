import { Rng } from '../../../common/src';
import { WeightedSum } from '../fold';
import { NamedArray } from '../types';
import { fixedPointFor } from './fixed-point';
import { runSecAggInMemory } from './secagg-memory';
import {
  decodeWeightedSum,
  encodeWeightedUpdate,
  WeightedLayout,
  weightedVectorLength,
} from './weighted-input';

const layout: WeightedLayout = {
  tensors: [
    { name: 'conv/kernel', shape: [3, 3, 4] },
    { name: 'head/bias', shape: [2] },
  ],
  extras: ['unclipped'],
};

function update(rng: Rng): NamedArray[] {
  return layout.tensors.map((t) => ({
    name: t.name,
    shape: [...t.shape],
    values: Float32Array.from({ length: t.shape.reduce((a, b) => a * b, 1) }, () => rng.uniform(-1, 1)),
  }));
}

describe('weighted updates under secure aggregation', () => {
  it('equal plain FedAvg (WeightedSum by sample count) to fixed-point precision, with a site dropping', () => {
    const rng = new Rng(11);
    const ids = ['h1', 'h2', 'h3', 'h4', 'h5'];
    const maxSamples = 100;
    const samples = new Map(ids.map((id) => [id, 10 + rng.int(50)]));
    const updates = new Map(ids.map((id) => [id, update(rng)]));
    const fp = fixedPointFor({ sites: ids.length, maxAbs: 1, ringBits: 32 });
    const inputs = new Map(
      ids.map((id) => [
        id,
        encodeWeightedUpdate(updates.get(id)!, samples.get(id)! / maxSamples, [1], layout, fp),
      ]),
    );
    const gone = new Set(['h4']);
    const { sum } = runSecAggInMemory({
      config: {
        roundId: 'r1',
        threshold: 3,
        neighbours: null,
        ringBits: 32,
        vectorLength: weightedVectorLength(layout),
      },
      inputs,
      dropAfterShares: gone,
    });
    const secure = decodeWeightedSum(sum, layout, fp);

    const plain = new WeightedSum(layout.tensors);
    for (const id of ids.filter((i) => !gone.has(i))) plain.add(updates.get(id)!, samples.get(id)!);
    const totalWeight = plain.totalWeight / maxSamples;
    expect(secure.extras.unclipped).toBe(4);
    expect(Math.abs(secure.totalWeight - totalWeight)).toBeLessThanOrEqual(4 * 2 ** -(fp.fractionBits + 1));
    const bound = (4 * 2 ** -(fp.fractionBits + 1) * 2) / totalWeight;
    for (const t of layout.tensors) {
      const mean = plain.take(t.name).map((v) => v / plain.totalWeight);
      const got = secure.arrays.find((a) => a.name === t.name)!.values;
      for (let i = 0; i < mean.length; i++)
        expect(Math.abs(got[i] - mean[i])).toBeLessThanOrEqual(bound + 1.2e-7 * Math.abs(mean[i]));
    }
  });

  it('refuses weights, extras and tensors that do not fit the round', () => {
    const fp = fixedPointFor({ sites: 3, maxAbs: 1, ringBits: 32 });
    const u = update(new Rng(1));
    expect(() => encodeWeightedUpdate(u, 1.5, [1], layout, fp)).toThrow(/weight must be in \(0, 1\]/);
    expect(() => encodeWeightedUpdate(u, 0.5, [], layout, fp)).toThrow(/expected 1 extra scalars/);
    expect(() => encodeWeightedUpdate([u[1], u[0]], 0.5, [1], layout, fp)).toThrow(
      /layout expects "conv\/kernel"/,
    );
    u[0].values[0] = 3;
    expect(() => encodeWeightedUpdate(u, 0.5, [1], layout, fp)).toThrow(/clip before encoding/);
  });
});
