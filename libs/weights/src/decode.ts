import { WeightCodecError } from './errors';
import { describeShape, NamedArray, WeightsHeader } from './format';
import { readWeightsHeader } from './header';
import { readTensorData } from './tensor-data';

/** What the receiver expects to find; anything else is rejected before values are decoded. */
export interface DecodeExpectation {
  /** Exactly this set of tensor names (order does not matter). */
  names?: readonly string[];
  /** Exactly these tensors with these shapes (the full layout, like `assertSameLayout`). */
  shapes?: Readonly<Record<string, readonly number[]>>;
  /** Reject buffers longer than this many bytes before reading the header. */
  maxBytes?: number;
}

/**
 * Decodes a weight buffer into named float32 arrays (sorted by name), dequantising int8 and
 * widening float16. The whole layout is checked first (see `readWeightsHeader`), then the
 * expectation, and only then is memory allocated for values.
 */
export function decodeWeights(buffer: Uint8Array, expect: DecodeExpectation = {}): NamedArray[] {
  const header = readWeightsHeader(buffer, { maxBytes: expect.maxBytes });
  checkExpectation(header, expect);
  return header.tensors.map((entry) => ({
    name: entry.name,
    shape: [...entry.shape],
    values: readTensorData(buffer, entry.dtype, entry.byteOffset, entry.size, entry.scale),
  }));
}

/** Rejects a buffer whose tensor names or shapes differ from what the receiver expects. */
export function checkExpectation(header: WeightsHeader, expect: DecodeExpectation): void {
  const present = new Map(header.tensors.map((t) => [t.name, t.shape]));
  const expectedNameSets: [string, readonly string[]][] = [];
  if (expect.names) expectedNameSets.push(['expected names', expect.names]);
  if (expect.shapes) expectedNameSets.push(['expected shapes', Object.keys(expect.shapes)]);
  for (const [source, names] of expectedNameSets) {
    const wanted = new Set(names);
    const missing = [...wanted].filter((name) => !present.has(name));
    const unexpected = [...present.keys()].filter((name) => !wanted.has(name));
    if (missing.length > 0 || unexpected.length > 0) {
      const parts = [];
      if (missing.length > 0) parts.push(`missing ${listNames(missing)}`);
      if (unexpected.length > 0) parts.push(`unexpected ${listNames(unexpected)}`);
      throw new WeightCodecError(
        `weights: tensors differ from the ${source}: ${parts.join('; ')}`,
        'NAME_MISMATCH',
        missing[0] ?? unexpected[0],
      );
    }
  }
  if (expect.shapes) {
    for (const [name, shape] of Object.entries(expect.shapes)) {
      const actual = present.get(name) as number[];
      if (!sameShape(actual, shape)) {
        throw new WeightCodecError(
          `weights: tensor "${name}" has shape ${describeShape(actual)}, expected ${describeShape(shape)}`,
          'SHAPE_MISMATCH',
          name,
        );
      }
    }
  }
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((dim, i) => dim === b[i]);
}

/** At most a handful of names in a message: a wrong model can differ in hundreds of tensors. */
function listNames(names: string[]): string {
  const shown = names.slice(0, 5).map((name) => `"${name}"`);
  return names.length > 5 ? `${shown.join(', ')} and ${names.length - 5} more` : shown.join(', ');
}
