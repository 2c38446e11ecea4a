import { createHash } from 'node:crypto';
import { InputError } from '../../../common/src';

/**
 * Who shares keys and masks with whom in a round.
 *
 * SecAgg (Bonawitz et al., CCS 2017) pairs every site with every other: O(n) key agreements, mask
 * expansions and shares per site, O(n²) in all. SecAgg+ (Bell et al., CCS 2020) keeps the same
 * messages on a sparse k-regular graph: each site masks with and shares to its k neighbours
 * only, so a site's cost stops growing with n. We use the circulant graph that Flower's SecAgg+
 * also uses (each site's k/2 successors and predecessors on a ring), with the ring order drawn
 * per round from a public seed (SHA-256 of seed + site id) so that a site's neighbours change
 * between rounds and every party computes the same graph from the key directory.
 */
export type NeighbourGraph = ReadonlyMap<string, ReadonlySet<string>>;

/**
 * `degree` null (or ≥ n − 1) = the complete graph (classic SecAgg); otherwise an even degree
 * 2 ≤ k < n − 1. `siteIds` are the sites that advertised keys.
 */
export function neighbourGraph(
  siteIds: readonly string[],
  degree: number | null,
  seed: string,
): NeighbourGraph {
  const n = siteIds.length;
  const graph = new Map<string, Set<string>>();
  if (degree === null || degree >= n - 1) {
    for (const id of siteIds) graph.set(id, new Set(siteIds.filter((other) => other !== id)));
    return graph;
  }
  if (!Number.isInteger(degree) || degree < 2 || degree % 2 !== 0) {
    throw new InputError(`secure aggregation neighbours must be an even integer ≥ 2 (got ${degree})`);
  }
  const order = [...siteIds]
    .map((id) => ({ id, key: createHash('sha256').update(`${seed}\n${id}`).digest('hex') }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((e) => e.id);
  order.forEach((id, p) => {
    const set = new Set<string>();
    for (let d = 1; d <= degree / 2; d++) {
      set.add(order[(p + d) % n]);
      set.add(order[(p - d + n) % n]);
    }
    graph.set(id, set);
  });
  return graph;
}
