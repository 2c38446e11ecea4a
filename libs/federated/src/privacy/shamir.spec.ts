import { randomBytes } from 'node:crypto';
import { FIELD_PRIME, shamirCombine, shamirSplit } from './shamir';

describe('Shamir secret sharing over GF(2^521 − 1)', () => {
  const secret = new Uint8Array(randomBytes(32));

  it('any t of n shares recover the secret; the field is prime-sized', () => {
    expect(FIELD_PRIME.toString(2)).toMatch(/^1{521}$/);
    const shares = shamirSplit(secret, [1, 2, 3, 4, 5, 6, 7], 4);
    expect(shamirCombine(shares.slice(0, 4), 4)).toEqual(secret);
    expect(shamirCombine([shares[6], shares[1], shares[4], shares[2]], 4)).toEqual(secret);
    expect(shamirCombine(shares, 4)).toEqual(secret);
  });

  it('fewer than t shares fail with a clear message', () => {
    const shares = shamirSplit(secret, [3, 9, 11], 3);
    expect(() => shamirCombine(shares.slice(0, 2), 3)).toThrow('2 shares held but 3 are needed');
  });

  it('t − 1 shares carry no information: they fit every secret equally', () => {
    // With t = 2 one share's y is a uniform field element whatever the secret: two splits of
    // the same secret differ, and a corrupted share interpolates to garbage that is detected.
    const a = shamirSplit(secret, [1, 2], 2);
    const b = shamirSplit(secret, [1, 2], 2);
    expect(a[0].y).not.toBe(b[0].y);
    expect(() => shamirCombine([a[0], { x: 2, y: (a[1].y + (1n << 300n)) % FIELD_PRIME }], 2)).toThrow(
      /corrupt/,
    );
  });

  it('refuses bad parameters', () => {
    expect(() => shamirSplit(secret, [1, 2], 3)).toThrow(/threshold 3/);
    expect(() => shamirSplit(secret, [1, 1], 2)).toThrow(/appears twice/);
    expect(() => shamirSplit(secret, [0, 1], 2)).toThrow(/≥ 1/);
    expect(() => shamirSplit(new Uint8Array(31), [1, 2], 2)).toThrow(/32 bytes/);
  });
});
