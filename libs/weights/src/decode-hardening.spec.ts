import { decodeWeights, DecodeExpectation } from './decode';
import { encodeWeights } from './encode';
import { WeightCodecError, WeightCodecErrorCode } from './errors';
import { NamedArray } from './format';
import { readWeightsHeader } from './header';

/**
 * Every malformed buffer a receiver may meet (a bug in another implementation, a truncated
 * transfer, a hostile site) must be refused with its own code and a message that names the
 * tensor or field, before any value is decoded or any memory sized from the header.
 */

const ARRAYS: NamedArray[] = [
  { name: 'a/kernel', shape: [2, 3], values: Float32Array.of(1, 2, 3, 4, 5, 6) },
  { name: 'b/bias', shape: [3], values: Float32Array.of(0.5, -0.5, 0.25) },
];

interface HeaderEntry {
  [key: string]: unknown;
}

/** A valid buffer split into its header object and data section, to be altered and reassembled. */
function parts(encoding: 'float32' | 'int8' = 'float32'): { tensors: HeaderEntry[]; data: Uint8Array } {
  const buffer = encodeWeights(ARRAYS, encoding);
  const headerLength = buffer.readUInt32LE(8);
  const header = JSON.parse(buffer.subarray(12, 12 + headerLength).toString('utf8')) as {
    tensors: HeaderEntry[];
  };
  const dataStart = Math.ceil((12 + headerLength) / 8) * 8;
  return { tensors: header.tensors, data: new Uint8Array(buffer.subarray(dataStart)) };
}

interface Craft {
  header?: unknown;
  headerBytes?: Uint8Array;
  data?: Uint8Array;
  magic?: number[];
  version?: number;
  headerLength?: number;
  paddingByte?: number;
}

/** Assembles a buffer field by field so each can be made wrong on its own. */
function craft(spec: Craft): Uint8Array {
  const headerBytes = spec.headerBytes ?? Buffer.from(JSON.stringify(spec.header ?? { tensors: [] }), 'utf8');
  const dataStart = Math.ceil((12 + headerBytes.length) / 8) * 8;
  const data = spec.data ?? new Uint8Array(0);
  const out = Buffer.alloc(dataStart + data.length);
  Buffer.from(spec.magic ?? [0x50, 0x48, 0x43, 0x57]).copy(out, 0);
  out.writeUInt32LE(spec.version ?? 1, 4);
  out.writeUInt32LE(spec.headerLength ?? headerBytes.length, 8);
  out.set(headerBytes, 12);
  if (spec.paddingByte !== undefined && dataStart > 12 + headerBytes.length)
    out[dataStart - 1] = spec.paddingByte;
  out.set(data, dataStart);
  return out;
}

function withEntry(index: number, change: (entry: HeaderEntry) => void, encoding?: 'int8'): Uint8Array {
  const { tensors, data } = parts(encoding);
  change(tensors[index]);
  return craft({ header: { tensors }, data });
}

function rejection(buffer: Uint8Array, expect?: DecodeExpectation): WeightCodecError {
  try {
    decodeWeights(buffer, expect);
  } catch (error) {
    if (error instanceof WeightCodecError) return error;
    throw new Error(`expected a WeightCodecError, got ${String(error)}`);
  }
  throw new Error('buffer was accepted');
}

function expectRejected(
  buffer: Uint8Array,
  code: WeightCodecErrorCode,
  mentions: RegExp,
  expectation?: DecodeExpectation,
): WeightCodecError {
  const error = rejection(buffer, expectation);
  expect({ code: error.code, message: error.message }).toEqual({
    code,
    message: expect.stringMatching(mentions),
  });
  expect(error.exitCode).toBe(2);
  return error;
}

describe('decodeWeights rejects', () => {
  it('accepts the unaltered reference (the fixtures below are valid until altered)', () => {
    const { tensors, data } = parts();
    expect(decodeWeights(craft({ header: { tensors }, data }))).toEqual(decodeWeights(encodeWeights(ARRAYS)));
    const int8 = parts('int8');
    expect(() => decodeWeights(craft({ header: { tensors: int8.tensors }, data: int8.data }))).not.toThrow();
  });

  it('truncated buffers, wherever they end', () => {
    const valid = encodeWeights(ARRAYS);
    const dataStart = readWeightsHeader(valid).dataOffset;
    expectRejected(valid.subarray(0, 0), 'TRUNCATED', /0 bytes/);
    expectRejected(valid.subarray(0, 11), 'TRUNCATED', /prelude/);
    expectRejected(valid.subarray(0, 40), 'TRUNCATED', /header length \d+ runs past/);
    expectRejected(valid.subarray(0, valid.length - 1), 'TRUNCATED', /ends inside tensor "b\/bias"/);
    expectRejected(valid.subarray(0, dataStart + 10), 'TRUNCATED', /ends inside tensor "a\/kernel"/);
    const header = Buffer.from(JSON.stringify({ tensors: [] }));
    expect((12 + header.length) % 8).not.toBe(0);
    expectRejected(craft({ headerBytes: header }).subarray(0, 12 + header.length), 'TRUNCATED', /padding/);
  });

  it('bad magic and unsupported versions', () => {
    expectRejected(craft({ magic: [0x50, 0x4b, 0x03, 0x04] }), 'BAD_MAGIC', /magic/);
    expectRejected(craft({ version: 0 }), 'UNSUPPORTED_VERSION', /version 0/);
    expectRejected(craft({ version: 2 }), 'UNSUPPORTED_VERSION', /version 2/);
  });

  it('a header that is not UTF-8 JSON of the right form', () => {
    expectRejected(craft({ headerBytes: Buffer.from('{"tensors": [') }), 'CORRUPT_HEADER', /not JSON/);
    expectRejected(craft({ headerBytes: Uint8Array.of(0x7b, 0xff, 0xfe, 0x7d) }), 'CORRUPT_HEADER', /UTF-8/);
    expectRejected(craft({ header: [] }), 'CORRUPT_HEADER', /"tensors" array/);
    expectRejected(craft({ header: { tensors: {} } }), 'CORRUPT_HEADER', /"tensors" array/);
    expectRejected(craft({ headerBytes: Buffer.from('null') }), 'CORRUPT_HEADER', /"tensors" array/);
    expectRejected(craft({ header: { tensors: [], extra: 1 } }), 'CORRUPT_HEADER', /unknown field.*"extra"/);
    expectRejected(craft({ header: { tensors: [7] } }), 'CORRUPT_HEADER', /tensor #0 is not an object/);
    expectRejected(
      withEntry(1, (e) => delete e.name),
      'CORRUPT_HEADER',
      /tensor #1 has no string "name"/,
    );
    expectRejected(
      withEntry(0, (e) => (e.note = 'x')),
      'CORRUPT_HEADER',
      /"a\/kernel": unknown field "note"/,
    );
    expectRejected(
      withEntry(0, (e) => (e.offset = '0')),
      'CORRUPT_HEADER',
      /"a\/kernel": "offset" must be/,
    );
    expectRejected(
      withEntry(0, (e) => (e.offset = -8)),
      'CORRUPT_HEADER',
      /"offset" must be/,
    );
    expectRejected(
      withEntry(1, (e) => delete e.byteLength),
      'CORRUPT_HEADER',
      /"b\/bias": "byteLength" must be/,
    );
  });

  it('bad names, duplicates and unsorted tensors', () => {
    expectRejected(
      withEntry(0, (e) => (e.name = '')),
      'BAD_NAME',
      /tensor #0: tensor name is empty/,
    );
    expectRejected(
      withEntry(0, (e) => (e.name = 'a\u00e9')),
      'BAD_NAME',
      /printable ASCII/,
    );
    expectRejected(
      withEntry(0, (e) => (e.name = 'x'.repeat(300))),
      'BAD_NAME',
      /longer than 256/,
    );
    expectRejected(
      withEntry(1, (e) => (e.name = 'a/kernel')),
      'DUPLICATE_NAME',
      /"a\/kernel" appears twice/,
    );
    expectRejected(
      withEntry(1, (e) => (e.name = 'a/aaa')),
      'NOT_SORTED',
      /"a\/aaa" comes after "a\/kernel"/,
    );
  });

  it('unknown dtypes', () => {
    expectRejected(
      withEntry(1, (e) => (e.dtype = 'bfloat16')),
      'UNKNOWN_DTYPE',
      /"b\/bias": unknown dtype "bfloat16"/,
    );
    expectRejected(
      withEntry(0, (e) => delete e.dtype),
      'UNKNOWN_DTYPE',
      /"a\/kernel": unknown dtype/,
    );
  });

  it('bad shapes and lengths that do not match them, without sizing memory from them', () => {
    expectRejected(
      withEntry(0, (e) => (e.shape = [2, -3])),
      'BAD_SHAPE',
      /"a\/kernel": shape \[2,-3\]/,
    );
    expectRejected(
      withEntry(0, (e) => (e.shape = '2x3')),
      'BAD_SHAPE',
      /must be an array/,
    );
    expectRejected(
      withEntry(0, (e) => (e.shape = [1, 1, 1, 1, 1, 1, 1, 1, 6])),
      'BAD_SHAPE',
      /rank 9/,
    );
    expectRejected(
      withEntry(0, (e) => (e.shape = [3, 3])),
      'LENGTH_MISMATCH',
      /"a\/kernel": byteLength 24 .*\[3, 3\]/,
    );
    expectRejected(
      withEntry(0, (e) => (e.byteLength = 20)),
      'LENGTH_MISMATCH',
      /byteLength 20/,
    );
    // A hostile header: 2^40 × 2^10 float32 values with a matching byteLength. Sizing an array
    // from it would throw RangeError (or exhaust memory); it must be refused as a codec error.
    const huge = withEntry(0, (e) => {
      e.shape = [2 ** 40, 2 ** 10];
      e.byteLength = 2 ** 52;
    });
    expectRejected(huge, 'LENGTH_MISMATCH', /"a\/kernel"/);
    expectRejected(
      withEntry(0, (e) => (e.byteLength = 2 ** 60)),
      'CORRUPT_HEADER',
      /"byteLength" must be/,
    );
    const big = withEntry(0, (e) => {
      e.shape = [1e6, 1e6];
      e.byteLength = 4e12;
    });
    expectRejected(big, 'LENGTH_MISMATCH', /"a\/kernel"/);
  });

  it('misaligned, overlapping, out-of-range and gapped offsets', () => {
    expectRejected(
      withEntry(1, (e) => (e.offset = 28)),
      'MISALIGNED',
      /"b\/bias": data at offset 28 is not 8-byte aligned/,
    );
    expectRejected(
      withEntry(1, (e) => (e.offset = 16)),
      'OVERLAP',
      /"b\/bias".* overlaps the previous tensor/,
    );
    expectRejected(
      withEntry(1, (e) => (e.offset = 2 ** 40)),
      'OUT_OF_RANGE',
      /"b\/bias": data at offset \d+ \+ 12 bytes runs past/,
    );
    const { tensors, data } = parts();
    tensors[1].offset = 32;
    const gapped = new Uint8Array(data.length + 8);
    gapped.set(data.subarray(0, 24));
    gapped.set(data.subarray(24), 32);
    expectRejected(
      craft({ header: { tensors }, data: gapped }),
      'GAP',
      /"b\/bias".* gap .*expected offset 24/,
    );
  });

  it('non-zero padding and trailing bytes', () => {
    const header = Buffer.from(JSON.stringify({ tensors: [] }));
    expectRejected(craft({ headerBytes: header, paddingByte: 0x20 }), 'BAD_PADDING', /after the header/);
    const tensors: HeaderEntry[] = [
      { name: 'odd', shape: [3], dtype: 'float16', offset: 0, byteLength: 6 },
      { name: 'z', shape: [1], dtype: 'float32', offset: 8, byteLength: 4 },
    ];
    const data = new Uint8Array(12);
    expect(() => decodeWeights(craft({ header: { tensors }, data }))).not.toThrow();
    data[7] = 1;
    expectRejected(craft({ header: { tensors }, data }), 'BAD_PADDING', /before tensor "z"/);
    const valid = encodeWeights(ARRAYS);
    expectRejected(Buffer.concat([valid, Buffer.alloc(8)]), 'TRAILING_BYTES', /8 unexpected bytes/);
    expectRejected(Buffer.concat([valid, Buffer.from([1])]), 'TRAILING_BYTES', /1 unexpected bytes/);
  });

  it('missing, invalid or misplaced int8 scales', () => {
    expectRejected(
      withEntry(0, (e) => delete e.scale, 'int8'),
      'BAD_SCALE',
      /"a\/kernel": int8 "scale"/,
    );
    expectRejected(
      withEntry(0, (e) => (e.scale = -1), 'int8'),
      'BAD_SCALE',
      /got -1/,
    );
    expectRejected(
      withEntry(0, (e) => (e.scale = '0.1'), 'int8'),
      'BAD_SCALE',
      /got "0.1"/,
    );
    expectRejected(
      withEntry(0, (e) => (e.scale = 0.1)),
      'BAD_SCALE',
      /only allowed for int8, not float32/,
    );
  });

  it('buffers over the receiver limit, before reading them', () => {
    const valid = encodeWeights(ARRAYS);
    expectRejected(valid, 'TOO_LARGE', new RegExp(`${valid.length} bytes, over the limit of 100`), {
      maxBytes: 100,
    });
    expect(() => decodeWeights(valid, { maxBytes: valid.length })).not.toThrow();
    // The limit applies first: even garbage is refused as too large, not parsed.
    expect(rejection(new Uint8Array(200), { maxBytes: 100 }).code).toBe('TOO_LARGE');
  });

  it('names and shapes other than expected', () => {
    const valid = encodeWeights(ARRAYS);
    expect(() => decodeWeights(valid, { names: ['b/bias', 'a/kernel'] })).not.toThrow();
    expect(() => decodeWeights(valid, { shapes: { 'a/kernel': [2, 3], 'b/bias': [3] } })).not.toThrow();
    const missing = expectRejected(valid, 'NAME_MISMATCH', /missing "c"/, {
      names: ['a/kernel', 'b/bias', 'c'],
    });
    expect(missing.tensor).toBe('c');
    expectRejected(valid, 'NAME_MISMATCH', /unexpected "b\/bias"/, { names: ['a/kernel'] });
    expectRejected(valid, 'NAME_MISMATCH', /expected shapes: unexpected "a\/kernel"/, {
      shapes: { 'b/bias': [3] },
    });
    const shape = expectRejected(
      valid,
      'SHAPE_MISMATCH',
      /"a\/kernel" has shape \[2, 3\], expected \[3, 2\]/,
      {
        shapes: { 'a/kernel': [3, 2], 'b/bias': [3] },
      },
    );
    expect(shape.tensor).toBe('a/kernel');
  });

  it('readWeightsHeader applies the same checks without decoding values', () => {
    expect(() => readWeightsHeader(encodeWeights(ARRAYS), { maxBytes: 10 })).toThrow(/over the limit/);
    expect(() => readWeightsHeader(withEntry(1, (e) => (e.offset = 16)))).toThrow(/overlaps/);
    expect(readWeightsHeader(encodeWeights(ARRAYS)).tensors.map((t) => t.name)).toEqual([
      'a/kernel',
      'b/bias',
    ]);
  });
});
