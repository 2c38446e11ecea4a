import { canonicalJson } from './canonical';

describe('canonicalJson', () => {
  it('sorts keys at every depth and writes no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: true, y: null }], c: 'x' } })).toBe(
      '{"a":{"c":"x","d":[3,{"y":null,"z":true}]},"b":1}',
    );
  });

  it('writes numbers and strings as RFC 8785 does (ECMAScript number-to-string, JSON escapes)', () => {
    expect(canonicalJson([0.001, 1e21, 1e-7, -0, 5, 0.1 + 0.2])).toBe(
      '[0.001,1e+21,1e-7,0,5,0.30000000000000004]',
    );
    expect(canonicalJson('é"\\\n\u0001')).toBe('"é\\"\\\\\\n\\u0001"');
    // Keys sort by UTF-16 code units: uppercase before lowercase, "ab" after "a".
    expect(canonicalJson({ a: 1, B: 2, ab: 3 })).toBe('{"B":2,"a":1,"ab":3}');
  });

  it('refuses what JSON cannot carry faithfully instead of dropping it', () => {
    for (const bad of [
      NaN,
      Infinity,
      undefined,
      10n,
      () => 1,
      new Date(0),
      new Uint8Array(1),
      { a: undefined },
    ]) {
      expect(() => canonicalJson(bad)).toThrow(/MALFORMED/);
    }
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = [deep];
    expect(() => canonicalJson(deep)).toThrow(/deeper/);
  });
});
