import { createHash } from 'node:crypto';
import { Rng } from '../../common/src';
import { decodeWeights } from './decode';
import { weightsDigest } from './digest';
import { encodeWeights } from './encode';
import { WeightCodecError } from './errors';
import { roundToFloat16 } from './float16';
import { NamedArray, WeightEncoding } from './format';
import { readWeightsHeader } from './header';
import { readFloat32LE, writeFloat32LE } from './little-endian';

function randomArrays(rng: Rng, spec: [string, number[]][], spread = 1): NamedArray[] {
  return spec.map(([name, shape]) => {
    const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < values.length; i++) values[i] = rng.normal() * spread;
    return { name, shape, values };
  });
}

const LAYOUT: [string, number[]][] = [
  ['encoder/stem/kernel', [3, 3, 4, 8]],
  ['encoder/stem/bias', [8]],
  ['head/dense/kernel', [8, 1]],
  ['head/dense/bias', [1]],
  ['decoder/scale', []],
  ['empty', [0, 5]],
];

/** The reference bytes below were produced by an independent Python writer (numpy + json + hashlib). */
const TINY: NamedArray[] = [
  { name: 'dense/kernel', shape: [2, 3], values: Float32Array.of(0.5, -1.25, 3.0, 1e-3, -0, 65519) },
  { name: 'bias', shape: [3], values: Float32Array.of(0.1, -0.2, 0.3) },
  { name: 'scalar', shape: [], values: Float32Array.of(1.5) },
];
const TINY_REFERENCE: Record<WeightEncoding, { hex: string; sha512: string }> = {
  float32: {
    hex:
      '5048435701000000f40000007b2274656e736f7273223a5b7b226e616d65223a2262696173222c227368617065223a5b335d2c2264' +
      '74797065223a22666c6f61743332222c226f6666736574223a302c22627974654c656e677468223a31327d2c7b226e616d65223a' +
      '2264656e73652f6b65726e656c222c227368617065223a5b322c335d2c226474797065223a22666c6f61743332222c226f666673' +
      '6574223a31362c22627974654c656e677468223a32347d2c7b226e616d65223a227363616c6172222c227368617065223a5b5d2c' +
      '226474797065223a22666c6f61743332222c226f6666736574223a34302c22627974654c656e677468223a347d5d7dcdcccc3dcd' +
      'cc4cbe9a99993e000000000000003f0000a0bf000040406f12833a0000008000ef7f470000c03f',
    sha512:
      'bf1d2a03dd534ee1a7c515cd2ce2f9d1c8af042a91b4a2ec1a4e8a019c9542aaa2d2a116882663ff15ed0de1e397cec437514df08a' +
      '3480ec639c2fd7c6fab6c7',
  },
  float16: {
    hex:
      '5048435701000000f20000007b2274656e736f7273223a5b7b226e616d65223a2262696173222c227368617065223a5b335d2c2264' +
      '74797065223a22666c6f61743136222c226f6666736574223a302c22627974654c656e677468223a367d2c7b226e616d65223a22' +
      '64656e73652f6b65726e656c222c227368617065223a5b322c335d2c226474797065223a22666c6f61743136222c226f66667365' +
      '74223a382c22627974654c656e677468223a31327d2c7b226e616d65223a227363616c6172222c227368617065223a5b5d2c2264' +
      '74797065223a22666c6f61743136222c226f6666736574223a32342c22627974654c656e677468223a327d5d7d0000662e66b2cd' +
      '340000003800bd004219140080ff7b00000000003e',
    sha512:
      '8bb713060dd50195d88ea725e937002c04c2b929ba8f740fd3236dc5c0e913f624ab2817a606ae2bc5fe8b4354f7ea7bfc1aa99c0f' +
      '7f5aacdbbe61e30b4f94fd',
  },
  int8: {
    hex:
      '50484357010000003c0100007b2274656e736f7273223a5b7b226e616d65223a2262696173222c227368617065223a5b335d2c2264' +
      '74797065223a22696e7438222c226f6666736574223a302c22627974654c656e677468223a332c227363616c65223a302e303032' +
      '3336323230343831383237353033317d2c7b226e616d65223a2264656e73652f6b65726e656c222c227368617065223a5b322c33' +
      '5d2c226474797065223a22696e7438222c226f6666736574223a382c22627974654c656e677468223a362c227363616c65223a35' +
      '31352e383937363337373935323735367d2c7b226e616d65223a227363616c6172222c227368617065223a5b5d2c226474797065' +
      '223a22696e7438222c226f6666736574223a31362c22627974654c656e677468223a312c227363616c65223a302e303131383131' +
      '3032333632323034373234347d5d7d2aab7f000000000000000000007f00007f',
    sha512:
      '7f7d1082cf371d4e1450d2971377df25468bf4fe0663024822fe909b2ee08b72502a5386ce0dd65205a216685de4296447a489589' +
      '9dc82b3b95409b59cfd99fe',
  },
};

describe('weight codec', () => {
  describe.each(['float32', 'float16', 'int8'] as const)('%s', (encoding) => {
    it('writes the bytes of the independent reference writer and their SHA-512', () => {
      const buffer = encodeWeights(TINY, encoding);
      expect(buffer.toString('hex')).toBe(TINY_REFERENCE[encoding].hex);
      expect(weightsDigest(buffer)).toBe(TINY_REFERENCE[encoding].sha512);
    });

    it('decodes what it encodes, names sorted, shapes kept', () => {
      const arrays = randomArrays(new Rng(1), LAYOUT, 0.05);
      const decoded = decodeWeights(encodeWeights(arrays, encoding));
      expect(decoded.map((a) => a.name)).toEqual([...LAYOUT.map(([name]) => name)].sort());
      for (const array of decoded) {
        const original = arrays.find((a) => a.name === array.name) as NamedArray;
        expect(array.shape).toEqual(original.shape);
        expect(array.values).toBeInstanceOf(Float32Array);
        expect(array.values.length).toBe(original.values.length);
      }
    });

    it('gives the same bytes and digest whatever the input order', () => {
      const arrays = randomArrays(new Rng(2), LAYOUT);
      const permuted = new Rng(3).shuffle([...arrays]);
      expect(permuted.map((a) => a.name)).not.toEqual(arrays.map((a) => a.name));
      const a = encodeWeights(arrays, encoding);
      const b = encodeWeights(permuted, encoding);
      expect(b.equals(a)).toBe(true);
      expect(weightsDigest(b)).toBe(weightsDigest(a));
      const changed = arrays.map((x) => ({ ...x, values: x.values.slice() }));
      changed[0].values[0] += 1;
      expect(weightsDigest(encodeWeights(changed, encoding))).not.toBe(weightsDigest(a));
    });

    it('rejects NaN and Inf unless the encoding is float32', () => {
      for (const bad of [NaN, Infinity, -Infinity]) {
        const arrays: NamedArray[] = [{ name: 'w', shape: [3], values: Float32Array.of(1, bad, 2) }];
        if (encoding === 'float32') {
          const [back] = decodeWeights(encodeWeights(arrays, encoding));
          expect(Object.is(back.values[1], bad)).toBe(true);
        } else {
          expect(() => encodeWeights(arrays, encoding)).toThrow(
            expect.objectContaining({
              code: 'NON_FINITE',
              tensor: 'w',
              message: expect.stringContaining('index 1'),
            }),
          );
        }
      }
    });
  });

  it('float32 round trip is bit-exact, -0 included', () => {
    const arrays = randomArrays(new Rng(4), LAYOUT, 10);
    arrays[1].values[0] = -0;
    arrays[1].values[1] = 1.4e-45;
    const decoded = decodeWeights(encodeWeights(arrays));
    for (const array of decoded) {
      const original = arrays.find((a) => a.name === array.name) as NamedArray;
      expect(Buffer.from(array.values.buffer).equals(Buffer.from(original.values.buffer))).toBe(true);
    }
  });

  it('float16 is within 2^-11 relative error in the normal range and exact on half values', () => {
    const rng = new Rng(5);
    const n = 50_000;
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) values[i] = (rng.bernoulli(0.5) ? 1 : -1) * 2 ** rng.uniform(-14, 15.9);
    const halves = Float32Array.of(
      0,
      -0,
      1,
      -2,
      0.5,
      65504,
      -65504,
      2 ** -14,
      2 ** -24,
      0.333251953125,
      1023.5,
    );
    const [h, v] = decodeWeights(
      encodeWeights(
        [
          { name: 'values', shape: [n], values },
          { name: 'halves', shape: [halves.length], values: halves },
        ],
        'float16',
      ),
    );
    expect(Array.from(h.values)).toEqual(Array.from(halves));
    let worst = 0;
    for (let i = 0; i < n; i++)
      worst = Math.max(worst, Math.abs(v.values[i] - values[i]) / Math.abs(values[i]));
    expect(worst).toBeLessThanOrEqual(2 ** -11);
    expect(worst).toBeGreaterThan(2 ** -13); // it does round
    expect(v.values[7]).toBe(roundToFloat16(values[7]));
  });

  it('int8 is within scale/2 per element (up to float32 rounding of q × scale)', () => {
    const arrays = randomArrays(new Rng(6), LAYOUT, 0.3);
    arrays[0].values[5] = -2.5; // the extreme maps to -127 exactly
    const buffer = encodeWeights(arrays, 'int8');
    const header = readWeightsHeader(buffer);
    const decoded = decodeWeights(buffer);
    for (const entry of header.tensors) {
      const original = arrays.find((a) => a.name === entry.name) as NamedArray;
      const back = decoded.find((a) => a.name === entry.name) as NamedArray;
      let maxAbs = 0;
      for (const x of original.values) maxAbs = Math.max(maxAbs, Math.abs(x));
      expect(entry.scale).toBe(maxAbs / 127);
      const scale = entry.scale as number;
      const bound = scale / 2 + scale * 127 * 2 ** -24;
      for (let i = 0; i < original.values.length; i++) {
        expect(Math.abs(back.values[i] - original.values[i])).toBeLessThanOrEqual(bound);
      }
    }
    const stem = decoded.find((a) => a.name === 'encoder/stem/kernel') as NamedArray;
    expect(stem.values[5]).toBe(-2.5);
  });

  it('int8 stores an all-zero tensor with scale 0', () => {
    const buffer = encodeWeights([{ name: 'z', shape: [4], values: new Float32Array(4) }], 'int8');
    expect(readWeightsHeader(buffer).tensors[0].scale).toBe(0);
    expect(Array.from(decodeWeights(buffer)[0].values)).toEqual([0, 0, 0, 0]);
  });

  it('lets each tensor choose its encoding', () => {
    const arrays = randomArrays(new Rng(7), LAYOUT);
    const buffer = encodeWeights(arrays, (a) => (a.values.length > 8 ? 'int8' : 'float32'));
    const dtypes = Object.fromEntries(readWeightsHeader(buffer).tensors.map((t) => [t.name, t.dtype]));
    expect(dtypes).toEqual({
      'decoder/scale': 'float32',
      empty: 'float32',
      'encoder/stem/bias': 'float32',
      'encoder/stem/kernel': 'int8',
      'head/dense/bias': 'float32',
      'head/dense/kernel': 'float32',
    });
  });

  it('encodes an empty list of tensors', () => {
    const buffer = encodeWeights([]);
    expect(decodeWeights(buffer)).toEqual([]);
    expect(readWeightsHeader(buffer).totalParams).toBe(0);
  });

  it('reads the header alone: layout, offsets and parameter count', () => {
    const arrays = randomArrays(new Rng(8), LAYOUT);
    const buffer = encodeWeights(arrays, 'float16');
    const header = readWeightsHeader(buffer);
    expect(header.version).toBe(1);
    expect(header.totalBytes).toBe(buffer.length);
    expect(header.dataOffset % 8).toBe(0);
    expect(header.totalParams).toBe(288 + 8 + 8 + 1 + 1 + 0);
    const stem = header.tensors.find((t) => t.name === 'encoder/stem/kernel');
    expect(stem).toMatchObject({ shape: [3, 3, 4, 8], dtype: 'float16', size: 288, byteLength: 576 });
    for (const t of header.tensors) expect(t.byteOffset).toBe(header.dataOffset + t.offset);
    expect(header.tensors.map((t) => t.offset)).toEqual([0, 8, 8, 24, 600, 608]);
  });

  it('rejects bad arrays on the way in, naming the tensor', () => {
    const ok = (name: string, shape: number[], n: number): NamedArray => ({
      name,
      shape,
      values: new Float32Array(n),
    });
    const cases: [NamedArray[], string][] = [
      [[ok('', [1], 1)], 'BAD_NAME'],
      [[ok('x'.repeat(257), [1], 1)], 'BAD_NAME'],
      [[ok('caf\u00e9', [1], 1)], 'BAD_NAME'],
      [[ok('tab\there', [1], 1)], 'BAD_NAME'],
      [[ok('a', [1], 1), ok('a', [1], 1)], 'DUPLICATE_NAME'],
      [[ok('a', [2, 2], 3)], 'LENGTH_MISMATCH'],
      [[ok('a', [-1], 0)], 'BAD_SHAPE'],
      [[ok('a', [1.5], 1)], 'BAD_SHAPE'],
      [[ok('a', [1, 1, 1, 1, 1, 1, 1, 1, 1], 1)], 'BAD_SHAPE'],
      [[{ name: 'a', shape: [2], values: [1, 2] as unknown as Float32Array }], 'BAD_SHAPE'],
    ];
    for (const [arrays, code] of cases) {
      let caught: unknown;
      try {
        encodeWeights(arrays);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(WeightCodecError);
      expect((caught as WeightCodecError).code).toBe(code);
      expect((caught as WeightCodecError).exitCode).toBe(2);
    }
    expect(() => encodeWeights([ok('a', [1], 1)], 'bfloat16' as WeightEncoding)).toThrow(/unknown encoding/);
  });

  it('digest is SHA-512 over exactly the buffer bytes', () => {
    const bytes = Uint8Array.of(0x50, 0x48, 0x43, 0x57, 1, 0, 0, 0);
    const offsetView = new Uint8Array(16);
    offsetView.set(bytes, 5);
    const expected = createHash('sha512').update(Buffer.from('5048435701000000', 'hex')).digest('hex');
    expect(weightsDigest(bytes)).toBe(expected);
    expect(weightsDigest(offsetView.subarray(5, 13))).toBe(expected);
    // Well-known vector: SHA-512 of the empty string.
    expect(weightsDigest(new Uint8Array(0))).toBe(
      'cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e',
    );
  });

  it('decodes a buffer that sits at an odd offset inside a larger one', () => {
    const arrays = randomArrays(new Rng(9), LAYOUT);
    for (const encoding of ['float32', 'float16', 'int8'] as const) {
      const encoded = encodeWeights(arrays, encoding);
      const host = new Uint8Array(encoded.length + 3);
      host.set(encoded, 3);
      expect(decodeWeights(host.subarray(3))).toEqual(decodeWeights(encoded));
    }
  });

  it('writes and reads little-endian through DataView exactly as the memcpy path', () => {
    const values = Float32Array.of(1, -2.5, 3.4e38, -1.4e-45, NaN, 0.1);
    const viaCopy = new Uint8Array(values.byteLength + 5);
    const viaView = new Uint8Array(values.byteLength + 5);
    writeFloat32LE(values, viaCopy, 5, true);
    writeFloat32LE(values, viaView, 5, false);
    expect(Buffer.from(viaView).equals(Buffer.from(viaCopy))).toBe(true);
    // 1.0f is 00 00 80 3f little-endian: the buffer's byte order, whatever the host's.
    expect(Array.from(viaView.subarray(5, 9))).toEqual([0x00, 0x00, 0x80, 0x3f]);
    const a = readFloat32LE(viaView, 5, values.length, false);
    const b = readFloat32LE(viaView, 5, values.length, true);
    expect(Array.from(a)).toEqual(Array.from(values));
    expect(Array.from(b)).toEqual(Array.from(values));
  });

  it('encodes, digests and decodes 10M parameters quickly', () => {
    const values = new Float32Array(10_000_000);
    for (let i = 0; i < values.length; i++) values[i] = ((i * 2654435761) % 1000) / 1000 - 0.5;
    const arrays: NamedArray[] = [
      { name: 'big', shape: [10_000, 1000], values },
      { name: 'small', shape: [3], values: Float32Array.of(1, 2, 3) },
    ];
    const start = performance.now();
    const buffer = encodeWeights(arrays);
    const digest = weightsDigest(buffer);
    const decoded = decodeWeights(buffer, { maxBytes: 50_000_000 });
    const elapsed = performance.now() - start;
    expect(digest).toHaveLength(128);
    expect(decoded[0].values[12345]).toBe(values[12345]);
    expect(elapsed).toBeLessThan(4000); // ~0.3 s on an idle core: catches a 10× regression, not CI noise
  });
});
