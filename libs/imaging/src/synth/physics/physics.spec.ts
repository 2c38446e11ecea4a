import {
  bloodAif,
  disperseCurve,
  exponentialConvolution,
  parkerAif,
  sampleCurve,
  curveAt,
  delayCurve,
} from './aif';
import { relaxationRate, spgrSignal } from './signal';
import { dualInput, extendedTofts, hepatocyteUptake } from './tissue';

describe('Parker population AIF', () => {
  it('matches hand-computed values of the Parker 2006 formula', () => {
    // At T1: first Gaussian 0.809/(0.0563·√(2π)) = 5.7325, second 0.99736·e^(−1.08603) = 0.33667,
    // sigmoid term ≈ 7e-6 → 6.0692 mM.
    expect(parkerAif(0.17046)).toBeCloseTo(6.0692, 3);
    // At 3 min only the sigmoid term is left: 1.05·e^(−0.1685·3) = 0.63336.
    expect(parkerAif(3)).toBeCloseTo(0.63336, 4);
    expect(parkerAif(0)).toBe(0);
    expect(parkerAif(-1)).toBe(0);
  });

  it('scales with dose and continues smoothly into a slower late tail', () => {
    expect(bloodAif(0.3, 0.25)).toBeCloseTo(0.25 * parkerAif(0.3), 12);
    expect(bloodAif(5.0001, 1)).toBeCloseTo(bloodAif(5, 1), 3);
    // Parker's sigmoid halves every ~4 min; the plasma tail (12 and 56 min half-lives) much slower.
    expect(bloodAif(20, 1)).toBeGreaterThan(5 * parkerAif(20));
    expect(bloodAif(20, 1)).toBeLessThan(bloodAif(10, 1));
  });
});

describe('exponential convolution', () => {
  const dt = 0.01;
  it('is exact for a constant input: gain·C·(1 − e^(−kt))/k', () => {
    const y = exponentialConvolution(
      sampleCurve(() => 2, 5, dt),
      0.8,
      0.3,
    );
    for (const t of [0.5, 2, 5])
      expect(curveAt(y, t)).toBeCloseTo((0.3 * 2 * (1 - Math.exp(-0.8 * t))) / 0.8, 10);
  });

  it('is exact for a ramp input: gain·(t/k − (1 − e^(−kt))/k²)', () => {
    const k = 1.7;
    const y = exponentialConvolution(
      sampleCurve((t) => t, 4, dt),
      k,
      1,
    );
    for (const t of [1, 4]) expect(curveAt(y, t)).toBeCloseTo(t / k - (1 - Math.exp(-k * t)) / (k * k), 10);
  });

  it('handles k = 0 as a plain integral', () => {
    const y = exponentialConvolution(
      sampleCurve((t) => t, 2, dt),
      0,
      1,
    );
    expect(curveAt(y, 2)).toBeCloseTo(2, 10);
  });

  it('disperses a bolus without losing agent, and delays it', () => {
    const bolus = sampleCurve((t) => parkerAif(t), 30, dt);
    const area = (c: { values: Float64Array }) => c.values.reduce((a, b) => a + b, 0) * dt;
    const dispersed = disperseCurve(bolus, 0.25);
    expect(area(dispersed) / area(bolus)).toBeCloseTo(1, 2);
    expect(Math.max(...dispersed.values)).toBeLessThan(Math.max(...bolus.values));
    const delayed = delayCurve(bolus, 0.5);
    expect(curveAt(delayed, 0.5 + 0.17)).toBeCloseTo(curveAt(bolus, 0.17), 10);
    expect(curveAt(delayed, 0.4)).toBe(0);
  });
});

describe('tissue models', () => {
  const dt = 0.005;
  const constant = sampleCurve(() => 1.5, 60, dt);

  it('extended Tofts: vp·Cp alone when Ktrans = 0, vp·C + ve·C at equilibrium', () => {
    const noLeak = extendedTofts(constant, { ktrans: 0, ve: 0.3, vp: 0.1 });
    expect(curveAt(noLeak, 10)).toBeCloseTo(0.15, 12);
    const tissue = extendedTofts(constant, { ktrans: 0.5, ve: 0.25, vp: 0.1 });
    expect(curveAt(tissue, 60)).toBeCloseTo(1.5 * 0.1 + 1.5 * 0.25, 6);
  });

  it('dual input mixes arterial and portal plasma by the arterial fraction', () => {
    const a = sampleCurve(() => 4, 1, dt);
    const p = sampleCurve(() => 1, 1, dt);
    expect(curveAt(dualInput(a, p, 0.25), 0.5)).toBeCloseTo(0.25 * 4 + 0.75, 12);
  });

  it('hepatocyte uptake accumulates k_hep·∫Cp when efflux is negligible', () => {
    const h = hepatocyteUptake(constant, { uptakeRate: 0.1, effluxRate: 0 });
    expect(curveAt(h, 20)).toBeCloseTo(0.1 * 1.5 * 20, 8);
  });
});

describe('SPGR signal', () => {
  it('matches a hand-computed value (TR 4 ms, 12°, T1 586 ms)', () => {
    // E1 = e^(−0.004·1.70648) = 0.993197; S = 0.207912·0.006803 / (1 − 0.978148·0.993197) = 0.049618.
    expect(spgrSignal(1, relaxationRate(586, 6.9, 0), { trMs: 4, flipDeg: 12 })).toBeCloseTo(0.049618, 5);
  });

  it('rises with agent concentration towards M0·sin α', () => {
    const seq = { trMs: 4, flipDeg: 12 };
    const s = [0, 0.5, 2, 1e6].map((c) => spgrSignal(1, relaxationRate(809, 6.2, c), seq));
    expect(s[1]).toBeGreaterThan(s[0]);
    expect(s[2]).toBeGreaterThan(s[1]);
    expect(s[3]).toBeCloseTo(Math.sin((12 * Math.PI) / 180), 6);
  });
});
