import { InputError } from '../../../common/src';
import { NormalisationAccumulator, normaliseCrop, validateNormalisation } from './normalise';

describe('site normalisation', () => {
  it('takes the median and IQR / 1.349 per phase over all patients', () => {
    const acc = new NormalisationAccumulator(2);
    // Phase 0: 0..999 over two patients → median ≈ 500, IQR ≈ 500; phase 1 = 10× phase 0.
    const a = Float32Array.from({ length: 500 }, (_, i) => 2 * i);
    const b = Float32Array.from({ length: 500 }, (_, i) => 2 * i + 1);
    acc.addPatient([a, a.map((x) => 10 * x)]);
    acc.addPatient([b, b.map((x) => 10 * x)]);
    const norm = acc.finish('train');
    expect(norm.patients).toBe(2);
    expect(Math.abs(norm.phases[0].median - 499.5)).toBeLessThanOrEqual(1);
    expect(norm.phases[0].scale).toBeCloseTo(500 / 1.349, 0);
    expect(norm.phases[1].median / norm.phases[0].median).toBeCloseTo(10, 2);
    expect(norm.phases[0].pixels).toBe(1000);
  });

  it('falls back to scale 1 on a flat reference region', () => {
    const acc = new NormalisationAccumulator(1);
    acc.addPatient([new Float32Array(100).fill(42)]);
    expect(acc.finish('all').phases[0]).toMatchObject({ scale: 1 });
    expect(acc.finish('all').phases[0].median).toBeCloseTo(42, 3);
  });

  it('normalises the intensity channels of each phase and leaves the mask channel alone', () => {
    const crop = Float32Array.from([10, 20, 1, 30, 40, 0, /* phase 1 */ 100, 200, 1, 300, 400, 0]);
    const norm = {
      method: 'robust-z-peritumoural' as const,
      source: 'train' as const,
      patients: 1,
      phases: [
        { median: 10, scale: 10, pixels: 1 },
        { median: 100, scale: 100, pixels: 1 },
      ],
    };
    normaliseCrop(crop, [2, 1, 2, 3], 2, norm);
    expect(Array.from(crop)).toEqual([0, 1, 1, 2, 3, 0, 0, 1, 1, 2, 3, 0]);
  });

  it('rejects a malformed saved normalisation', () => {
    expect(() =>
      validateNormalisation({ method: 'robust-z-peritumoural', phases: [] }, 6, 'norm.json'),
    ).toThrow(InputError);
    expect(() => validateNormalisation(null, 1)).toThrow(/not a robust-z-peritumoural/);
  });
});
