import { InputError } from '../../../common/src';
import { elementCount, formatShape, shapesEqual } from '../named-arrays';
import { IncomingUpdate, TensorLayout, UpdateEntry, UpdateKind } from '../types';
import { CheckFailure } from './rejection';

/**
 * The coordinator's checks on an update's way in, each a small filter (NVFlare style). Arrival
 * checks look at one update as it arrives; round checks need every admitted update of the round
 * (e.g. the median norm) and run once, just before aggregation. A check returns `undefined` to
 * pass or a `CheckFailure` to refuse.
 */
export interface ArrivalCheck {
  readonly name: string;
  check(update: IncomingUpdate): CheckFailure | undefined;
}

export interface RoundCheck {
  readonly name: string;
  /** Failures keyed by site id; sites absent from the map pass. */
  screen(entries: readonly UpdateEntry[]): Map<string, CheckFailure>;
}

/** Default upper bound on an update's sample count: far above any hospital cohort. */
export const DEFAULT_MAX_SAMPLES = 1_000_000;

/**
 * The sample count is the update's weight in the average: a site claiming 10⁹ samples would
 * dominate the global model, and 0 or a fraction would make the weights meaningless.
 */
export function checkSampleCount(options: { max?: number } = {}): ArrivalCheck {
  const max = options.max ?? DEFAULT_MAX_SAMPLES;
  if (!Number.isInteger(max) || max < 1) {
    throw new InputError(`maxSamples must be an integer ≥ 1 (got ${max})`);
  }
  return {
    name: 'sample-count',
    check(update) {
      const n = update.numSamples;
      if (!Number.isInteger(n) || n < 1 || n > max) {
        return {
          code: 'BAD_SAMPLE_COUNT',
          reason: `numSamples must be an integer in [1, ${max}] (got ${n})`,
        };
      }
      return undefined;
    },
  };
}

/** The round asked for one kind; mixing weights and deltas would need the global during the fold. */
export function checkKind(expected: UpdateKind): ArrivalCheck {
  return {
    name: 'kind',
    check(update) {
      if (update.kind !== expected) {
        return {
          code: 'KIND_MISMATCH',
          reason: `the round expects kind "${expected}" (got "${update.kind}")`,
        };
      }
      return undefined;
    },
  };
}

/**
 * Exactly the expected tensors, each with the expected shape and as many values as the shape
 * holds. An extra tensor is refused too: under FedBN it would be a normalisation parameter that
 * should never have left the site.
 */
export function checkNamesAndShapes(expectedLayout: readonly TensorLayout[]): ArrivalCheck {
  const expected = new Map(expectedLayout.map((t) => [t.name, t.shape]));
  return {
    name: 'names-and-shapes',
    check(update) {
      const seen = new Set<string>();
      for (const tensor of update.arrays) {
        const shape = expected.get(tensor.name);
        if (shape === undefined) {
          return { code: 'NAME_MISMATCH', reason: `unexpected tensor "${tensor.name}"` };
        }
        if (seen.has(tensor.name)) {
          return { code: 'NAME_MISMATCH', reason: `tensor "${tensor.name}" appears twice` };
        }
        seen.add(tensor.name);
        if (!shapesEqual(tensor.shape, shape)) {
          return {
            code: 'SHAPE_MISMATCH',
            reason: `tensor "${tensor.name}" has shape ${formatShape(tensor.shape)}, expected ${formatShape(shape)}`,
          };
        }
        if (tensor.values.length !== elementCount(shape)) {
          return {
            code: 'SHAPE_MISMATCH',
            reason: `tensor "${tensor.name}" has ${tensor.values.length} values for shape ${formatShape(shape)}`,
          };
        }
      }
      for (const name of expected.keys()) {
        if (!seen.has(name)) return { code: 'NAME_MISMATCH', reason: `missing tensor "${name}"` };
      }
      return undefined;
    },
  };
}

/** One NaN or Inf would poison every weight it is averaged into. */
export function checkFinite(): ArrivalCheck {
  return {
    name: 'finite',
    check(update) {
      for (const tensor of update.arrays) {
        if (allFinite(tensor.values)) continue;
        const values = tensor.values;
        for (let i = 0; i < values.length; i++) {
          // x − x is 0 for finite x and NaN for NaN/±Inf.
          if (values[i] - values[i] !== 0) {
            return { code: 'NON_FINITE', reason: `tensor "${tensor.name}" has ${values[i]} at index ${i}` };
          }
        }
      }
      return undefined;
    },
  };
}

/**
 * The float64 sum of float32 values is finite iff every value is: |x| ≤ 3.4e38, so fewer than
 * 2⁵³ of them cannot overflow, while NaN and ±Inf propagate (Inf − Inf = NaN). One add per value
 * and no branch, in four independent accumulators, is about twice as fast as testing each value;
 * the slow scan runs only to name the culprit.
 */
function allFinite(values: Float32Array): boolean {
  let a = 0;
  let b = 0;
  let c = 0;
  let d = 0;
  const end = values.length - (values.length % 4);
  let i = 0;
  for (; i < end; i += 4) {
    a += values[i];
    b += values[i + 1];
    c += values[i + 2];
    d += values[i + 3];
  }
  for (; i < values.length; i++) a += values[i];
  const total = a + b + c + d;
  return total - total === 0;
}

/**
 * Options of `checkNormBound`.
 * - `factor` (default 3): refuse an update whose delta norm exceeds `factor` × the round's median.
 * - `absolute` (default none): also refuse any delta norm above this fixed value.
 * - `minUpdates` (default 3): the relative bound applies only with at least this many updates;
 *   with two, the median is their mean and cannot single out either of them.
 */
export interface NormBoundOptions {
  factor?: number;
  absolute?: number;
  minUpdates?: number;
}

/**
 * A site whose update moves the model far more than its peers' (a diverged optimiser, wrong
 * learning rate, or a poisoning attempt) is left out of this round. The median, not the mean, so
 * that the outlier cannot raise its own bar.
 */
export function checkNormBound(options: NormBoundOptions = {}): RoundCheck {
  const factor = options.factor ?? 3;
  const minUpdates = options.minUpdates ?? 3;
  const absolute = options.absolute;
  if (!(factor > 1) || !Number.isFinite(factor)) {
    throw new InputError(`normBound.factor must be a finite number > 1 (got ${factor})`);
  }
  if (!Number.isInteger(minUpdates) || minUpdates < 1) {
    throw new InputError(`normBound.minUpdates must be an integer ≥ 1 (got ${minUpdates})`);
  }
  if (absolute !== undefined && !(absolute > 0)) {
    throw new InputError(`normBound.absolute must be > 0 (got ${absolute})`);
  }
  return {
    name: 'norm-bound',
    screen(entries) {
      const failures = new Map<string, CheckFailure>();
      const median = entries.length >= minUpdates ? medianOf(entries.map((e) => e.deltaNorm)) : undefined;
      for (const entry of entries) {
        if (absolute !== undefined && entry.deltaNorm > absolute) {
          failures.set(entry.siteId, {
            code: 'NORM_OUTLIER',
            reason: `delta norm ${entry.deltaNorm.toPrecision(4)} exceeds the absolute bound ${absolute}`,
          });
        } else if (median !== undefined && entry.deltaNorm > factor * median) {
          failures.set(entry.siteId, {
            code: 'NORM_OUTLIER',
            reason: `delta norm ${entry.deltaNorm.toPrecision(4)} exceeds ${factor} × the round median ${median.toPrecision(4)}`,
          });
        }
      }
      return failures;
    },
  };
}

export function medianOf(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
