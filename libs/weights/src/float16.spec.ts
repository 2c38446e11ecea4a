import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../../common/src';
import { FLOAT16_MAX, float16BitsToFloat32, float32BitsToFloat16Bits, roundToFloat16 } from './float16';

const f32Bits = (x: number): number => new Uint32Array(new Float32Array([x]).buffer)[0];
const fromBits = (bits: number): number => new Float32Array(new Uint32Array([bits]).buffer)[0];

/** float32 → float16 pairs computed by numpy (an independent implementation), see the file's header. */
function numpyPairs(): [number, number][] {
  return readFileSync(join(__dirname, 'testdata', 'float16-numpy.tsv'), 'utf8')
    .split('\n')
    .filter((line) => line.length > 0 && !line.startsWith('#'))
    .map((line) => {
      const [f, h] = line.split('\t');
      return [parseInt(f, 16), parseInt(h, 16)];
    });
}

describe('float16 conversion', () => {
  it('matches numpy bit for bit, ties to even and subnormals included', () => {
    const pairs = numpyPairs();
    expect(pairs.length).toBeGreaterThan(1500);
    const wrong = pairs.filter(([f, h]) => float32BitsToFloat16Bits(f) !== h);
    expect(wrong.map(([f, h]) => [f.toString(16), h.toString(16)])).toEqual([]);
  });

  it('decodes known half patterns', () => {
    expect(float16BitsToFloat32(0x3c00)).toBe(1);
    expect(float16BitsToFloat32(0xc000)).toBe(-2);
    expect(float16BitsToFloat32(0x7bff)).toBe(65504);
    expect(float16BitsToFloat32(0x0001)).toBe(2 ** -24);
    expect(float16BitsToFloat32(0x0400)).toBe(2 ** -14);
    expect(float16BitsToFloat32(0x3555)).toBe(0.333251953125);
    expect(Object.is(float16BitsToFloat32(0x8000), -0)).toBe(true);
    expect(float16BitsToFloat32(0x7c00)).toBe(Infinity);
    expect(float16BitsToFloat32(0xfc00)).toBe(-Infinity);
    expect(float16BitsToFloat32(0x7e00)).toBeNaN();
  });

  it('is exact for every finite half value', () => {
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00) continue; // Inf / NaN
      const back = float32BitsToFloat16Bits(f32Bits(float16BitsToFloat32(h)));
      if (back !== h) throw new Error(`half 0x${h.toString(16)} came back as 0x${back.toString(16)}`);
    }
  });

  it('clamps finite values beyond the half range to ±65504 instead of Inf', () => {
    for (const x of [65520, 70000, 1e10, 3.4e38]) {
      expect(roundToFloat16(x)).toBe(FLOAT16_MAX);
      expect(roundToFloat16(-x)).toBe(-FLOAT16_MAX);
    }
    expect(roundToFloat16(65519)).toBe(65504);
  });

  it('keeps the relative error within 2^-11 over the normal range', () => {
    const rng = new Rng(11);
    for (let i = 0; i < 20000; i++) {
      const x = Math.fround((rng.bernoulli(0.5) ? 1 : -1) * 2 ** rng.uniform(-14, 15.99));
      const rel = Math.abs(roundToFloat16(x) - x) / Math.abs(x);
      if (rel > 2 ** -11) throw new Error(`${x}: relative error ${rel}`);
    }
  });

  it('rounds below half the smallest subnormal to signed zero', () => {
    expect(float32BitsToFloat16Bits(f32Bits(2 ** -25))).toBe(0); // tie → even (0)
    expect(float32BitsToFloat16Bits(f32Bits(-(2 ** -26)))).toBe(0x8000);
    expect(float32BitsToFloat16Bits(f32Bits(fromBits(f32Bits(2 ** -25) + 1)))).toBe(1);
  });
});
