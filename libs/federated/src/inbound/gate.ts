import { PhccError } from '../../../common/src';
import { byName, squaredDistance } from '../named-arrays';
import { IncomingUpdate, NamedArray, TensorLayout, UpdateEntry, UpdateKind } from '../types';
import {
  ArrivalCheck,
  RoundCheck,
  checkFinite,
  checkKind,
  checkNamesAndShapes,
  checkNormBound,
  checkSampleCount,
  NormBoundOptions,
} from './checks';
import { Rejection } from './rejection';

/**
 * Options of `UpdateGate` (one gate per round).
 * - `expectedLayout`: the tensors every update must carry (`strategy.uploadLayout(…)`).
 * - `expectedKind`: what the round's instructions asked for.
 * - `global`: the round's global weights; required when `expectedKind` is 'weights', to measure
 *   how far an update moves the model.
 * - `maxSamples` (default 1 000 000): upper bound on an update's sample count.
 * - `normBound` (default `{ factor: 3 }`): round-level delta-norm bound; `false` turns it off.
 */
export interface UpdateGateOptions {
  expectedLayout: readonly TensorLayout[];
  expectedKind: UpdateKind;
  global?: readonly NamedArray[];
  maxSamples?: number;
  normBound?: NormBoundOptions | false;
}

export type Admission = { admitted: true; entry: UpdateEntry } | { admitted: false; rejection: Rejection };

/**
 * The coordinator's way in, in one place. The whole chain an update passes is:
 *
 *   verify (signature, run/round/task, replay — libs/protocol, on the envelope)
 *   → sample count → kind → duplicate → names & shapes → finite → delta norm (measured)
 *   → [blob store]  … round end …  → norm bound (× round median) → fold (strategy)
 *
 * `admit` runs on arrival, one update at a time, and returns the small `UpdateEntry` to keep
 * while the tensors go to the blob store; `screen` runs once at round end, when the median of all
 * delta norms is known.
 */
export class UpdateGate {
  /** Per-update checks, in the order they run. */
  readonly arrivalChecks: readonly ArrivalCheck[];
  /** Checks that need the whole round, in the order they run. */
  readonly roundChecks: readonly RoundCheck[];
  private readonly admittedSites = new Set<string>();
  private readonly globalByName: Map<string, NamedArray> | undefined;

  constructor(private readonly options: UpdateGateOptions) {
    if (options.expectedKind === 'weights' && !options.global) {
      throw new PhccError('UpdateGate needs the global weights to check full-weight updates', 'GATE_CONFIG');
    }
    this.globalByName = options.global ? byName(options.global) : undefined;
    this.arrivalChecks = [
      checkSampleCount({ max: options.maxSamples }),
      checkKind(options.expectedKind),
      checkNamesAndShapes(options.expectedLayout),
      checkFinite(),
    ];
    this.roundChecks = options.normBound === false ? [] : [checkNormBound(options.normBound)];
  }

  admit(update: IncomingUpdate): Admission {
    const refuse = (check: string, failure: { code: Rejection['code']; reason: string }): Admission => ({
      admitted: false,
      rejection: { siteId: update.siteId, check, ...failure },
    });
    if (this.admittedSites.has(update.siteId)) {
      return refuse('duplicate', {
        code: 'DUPLICATE_UPDATE',
        reason: `site "${update.siteId}" already sent an update this round`,
      });
    }
    for (const check of this.arrivalChecks) {
      const failure = check.check(update);
      if (failure) return refuse(check.name, failure);
    }
    const reference = this.options.expectedKind === 'weights' ? this.globalByName : undefined;
    const deltaNorm = Math.sqrt(squaredDistance(update.arrays, reference));
    this.admittedSites.add(update.siteId);
    return {
      admitted: true,
      entry: {
        siteId: update.siteId,
        kind: update.kind,
        numSamples: update.numSamples,
        deltaNorm,
        metrics: { ...(update.metrics ?? {}) },
      },
    };
  }

  /** Applies the round checks; returns the entries to aggregate and the ones refused. */
  screen(entries: readonly UpdateEntry[]): { accepted: UpdateEntry[]; rejected: Rejection[] } {
    return screenEntries(entries, this.roundChecks);
  }
}

/**
 * The round-level half of the gate on its own: it needs only the admitted entries (no tensors),
 * so the round engine screens a round without holding a gate. Default: the delta-norm bound.
 */
export function screenEntries(
  entries: readonly UpdateEntry[],
  roundChecks: readonly RoundCheck[] = [checkNormBound()],
): { accepted: UpdateEntry[]; rejected: Rejection[] } {
  const rejected: Rejection[] = [];
  const refusedSites = new Set<string>();
  for (const check of roundChecks) {
    // Every round check sees the same admitted set, so the order of checks cannot shift a median.
    for (const [siteId, failure] of check.screen(entries)) {
      if (refusedSites.has(siteId)) continue;
      refusedSites.add(siteId);
      rejected.push({ siteId, check: check.name, ...failure });
    }
  }
  return { accepted: entries.filter((e) => !refusedSites.has(e.siteId)), rejected };
}
