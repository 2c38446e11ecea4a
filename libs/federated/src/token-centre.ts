import { InputError } from '../../common/src';
import { compareIds } from './engine/schedule';
import type { NamedArray, UpdateSource } from './types';

/** The head's centre tensor (libs/model's `TOKEN_CENTER` is this name). */
export const TOKEN_CENTRE_TENSOR = 'head/token_center';

/**
 * Federated token centring. The fine-tune head subtracts a centre from the encoder's pooled
 * features (`head/token_center`, docs/MODEL.md: the head does not learn on SSL features without
 * it). Centrally it is the mean pooled feature over the training patients. Federated, it must be
 * the same mean over all sites' training patients — not each site's own mean, which would pull
 * the shared head toward one site's feature scale and be reset every round.
 *
 * Each site releases only its count and the sum of its pooled features (a d-vector: no
 * patient's feature is recoverable from it once n ≥ 2), and the centre is Σ sums / Σ counts.
 * A site expresses its sum as its mean with `nSamples` = its count, so a FedAvg-weighted average
 * of the sites' means is the same number: the engine may run the centring task as a round whose
 * updates are averaged by sample count (never by an adaptive server optimiser such as FedAdam,
 * which would move the centre by a step instead of setting it).
 */
export interface TokenCentreShare {
  site: string;
  /** Patients whose phase features were summed (every patient contributes the same T phases). */
  count: number;
  /** The site's mean pooled feature, Σ features / (count·T). */
  mean: ArrayLike<number>;
}

/** Σ count_k·mean_k / Σ count_k, in float64: the mean pooled feature over every site's patients. */
export function combineTokenCentre(shares: readonly TokenCentreShare[]): Float32Array {
  if (shares.length === 0) throw new InputError('token centre: no site shares');
  const dim = shares[0].mean.length;
  const sum = new Float64Array(dim);
  let count = 0;
  for (const share of shares) {
    if (share.mean.length !== dim)
      throw new InputError(
        `token centre: site ${share.site} sent ${share.mean.length} values, expected ${dim}`,
      );
    if (!Number.isInteger(share.count) || share.count < 1)
      throw new InputError(`token centre: site ${share.site} count ${share.count} is not a positive integer`);
    for (let i = 0; i < dim; i++) {
      const v = share.mean[i];
      if (!Number.isFinite(v)) throw new InputError(`token centre: site ${share.site} value ${i} is ${v}`);
      sum[i] += share.count * v;
    }
    count += share.count;
  }
  return Float32Array.from(sum, (v) => v / count);
}

/** What the token-centring round's aggregate produced. */
export interface TokenCentreFold {
  /** The global with its centre replaced (the same arrays, the centre's values new). */
  weights: NamedArray[];
  /** Sites whose centre went into it, in site-id order. */
  sites: string[];
  /** Σ counts: the patients the centre is the mean over. */
  patients: number;
}

/**
 * The token-centring round's aggregate (coordinator and simulator alike): each admitted update's
 * `head/token_center` — its value, or the global's plus it when the update is a delta — weighted
 * by its sample count, set into the global. Nothing else of the updates is read: the round moves
 * no other weight, and no strategy (FedAdam's step, FedProx's pull) touches the centre. A global
 * without a centre (a model configured without one) comes back unchanged.
 */
export async function foldTokenCentres(
  global: NamedArray[],
  updates: UpdateSource,
): Promise<TokenCentreFold> {
  const entries = [...updates.entries()].sort((a, b) => compareIds(a.siteId, b.siteId));
  const sites = entries.map((e) => e.siteId);
  const patients = entries.reduce((n, e) => n + e.numSamples, 0);
  const centre = global.find((a) => a.name === TOKEN_CENTRE_TENSOR);
  if (!centre) return { weights: global, sites, patients };
  const shares: TokenCentreShare[] = [];
  for (const entry of entries) {
    const [sent] = await updates.read(entry.siteId, (name) => name === TOKEN_CENTRE_TENSOR);
    if (!sent)
      throw new InputError(`token centre: the update of ${entry.siteId} has no ${TOKEN_CENTRE_TENSOR}`);
    const mean =
      entry.kind === 'delta' ? Float64Array.from(sent.values, (v, i) => centre.values[i] + v) : sent.values;
    shares.push({ site: entry.siteId, count: entry.numSamples, mean });
  }
  const combined = combineTokenCentre(shares);
  if (combined.length !== centre.values.length)
    throw new InputError(
      `token centre: sites sent ${combined.length} values, the global's centre has ${centre.values.length}`,
    );
  const weights = global.map((a) => (a === centre ? { ...a, values: combined } : a));
  return { weights, sites, patients };
}
