import { Rng } from '../../../common/src';
import { tensor, valuesOf } from '../__tests__/harness';
import { squaredDistance } from '../named-arrays';
import { siteOutgoingFilters } from './chain';
import { clipAndNoise, quantise, selectUpload, toDelta } from './filters';
import { applyOutgoing, OutgoingUpdate } from './outgoing';

const global = [
  tensor('encoder/w', [1, 1, 1]),
  tensor('encoder/ln/gamma', [1]),
  tensor('decoder/d', [0]),
  tensor('head/h', [2]),
];

function local(): OutgoingUpdate {
  return {
    kind: 'weights',
    numSamples: 5,
    metrics: { loss: 0.3 },
    arrays: [
      tensor('encoder/w', [4, 1, 5]),
      tensor('encoder/ln/gamma', [2]),
      tensor('decoder/d', [1]),
      tensor('head/h', [7]),
    ],
  };
}

describe('site outgoing filters', () => {
  it('select keeps the stage parts minus keep-local tensors', () => {
    const out = selectUpload(['encoder', 'decoder'], /\/ln/).process(local());
    expect(out.arrays.map((a) => a.name)).toEqual(['encoder/w', 'decoder/d']);
  });

  it('toDelta subtracts the global and leaves its input alone', () => {
    const input = local();
    const out = toDelta(global).process(input);
    expect(out.kind).toBe('delta');
    expect(valuesOf(out.arrays, 'encoder/w')).toEqual([3, 0, 4]);
    expect(valuesOf(out.arrays, 'head/h')).toEqual([5]);
    expect(valuesOf(input.arrays, 'encoder/w')).toEqual([4, 1, 5]);
    expect(toDelta(global).process(out)).toBe(out);
  });

  it('clips the delta to clipNorm over all tensors', () => {
    const delta = {
      ...local(),
      kind: 'delta' as const,
      arrays: [tensor('encoder/w', [3, 0]), tensor('head/h', [4])],
    };
    const clipped = clipAndNoise({ clipNorm: 1, rng: new Rng(1) }).process(delta);
    expect(valuesOf(clipped.arrays, 'encoder/w')[0]).toBeCloseTo(0.6, 6);
    expect(valuesOf(clipped.arrays, 'head/h')[0]).toBeCloseTo(0.8, 6);
    // Under the bound: unchanged.
    const small = clipAndNoise({ clipNorm: 10, rng: new Rng(1) }).process(delta);
    expect(valuesOf(small.arrays, 'head/h')).toEqual([4]);
    expect(() => clipAndNoise({ clipNorm: 1, rng: new Rng(1) }).process(local())).toThrow(/delta/);
  });

  it('adds Gaussian noise with σ = noiseMultiplier × clipNorm, reproducibly from the seed', () => {
    const zeros = {
      ...local(),
      kind: 'delta' as const,
      arrays: [tensor('encoder/w', new Array(20000).fill(0))],
    };
    const filter = () => clipAndNoise({ clipNorm: 2, noiseMultiplier: 0.5, rng: new Rng(42) });
    const noisy = filter().process(zeros);
    const values = noisy.arrays[0].values;
    const mean = values.reduce((s, v) => s + v, 0) / values.length;
    const sd = Math.sqrt(squaredDistance(noisy.arrays) / values.length - mean * mean);
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(sd).toBeGreaterThan(0.97);
    expect(sd).toBeLessThan(1.03);
    expect(
      Buffer.from(filter().process(zeros).arrays[0].values.buffer).equals(Buffer.from(values.buffer)),
    ).toBe(true);
  });

  it('quantise rounds to exactly what the encoding carries', () => {
    const delta = { ...local(), arrays: [tensor('encoder/w', [1.27, -0.5, 0.001])] };
    const int8 = quantise('int8').process(delta);
    // Per-tensor scale = 1.27/127 = 0.01: values snap to multiples of it.
    const q = valuesOf(int8.arrays, 'encoder/w');
    expect(q[0]).toBeCloseTo(1.27, 6);
    expect(q[1]).toBeCloseTo(-0.5, 6);
    expect(q[2]).toBe(0);
    const half = valuesOf(
      quantise('float16').process({ ...delta, arrays: [tensor('encoder/w', [1 + 2 ** -12])] }).arrays,
      'encoder/w',
    );
    expect(half).toEqual([1]);
    expect(quantise('float32').process(delta)).toBe(delta);
  });

  it('the chain is select → delta → clip + noise → quantise, and reads so', () => {
    const filters = siteOutgoingFilters({
      instruction: { parts: ['encoder', 'head'], keepLocalPattern: '\\/ln', updateKind: 'delta' },
      global,
      clip: { clipNorm: 100, noiseMultiplier: 0, rng: new Rng(3) },
      encoding: 'float16',
    });
    expect(filters.map((f) => f.name)).toEqual(['select', 'delta', 'clip-and-noise', 'quantise-float16']);
    const out = applyOutgoing(local(), filters);
    expect(out.kind).toBe('delta');
    expect(out.arrays.map((a) => a.name).sort()).toEqual(['encoder/w', 'head/h']);
    expect(valuesOf(out.arrays, 'head/h')).toEqual([5]);
    expect(out.metrics).toEqual({ loss: 0.3 });
    expect(() =>
      siteOutgoingFilters({
        instruction: { parts: ['encoder'], keepLocalPattern: null, updateKind: 'weights' },
        global,
        clip: { clipNorm: 1, rng: new Rng(1) },
      }),
    ).toThrow(/deltas/);
  });
});
