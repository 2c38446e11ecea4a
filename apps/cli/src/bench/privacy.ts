import { addMaskInto } from '../../../../libs/federated/src/privacy/prg';
import { runSecAggInMemory } from '../../../../libs/federated/src/privacy/secagg-memory';
import { SecAggConfig } from '../../../../libs/federated/src/privacy/secagg-messages';
import { BenchFigures, BenchSuite } from './suite';

const PARAMETERS = 1_000_000;
const RING_BITS = 32;

/** Graph and threshold per site count: complete graph (SecAgg) up to 20, 10-regular (SecAgg+) at 100. */
const SCENARIOS: { sites: number; neighbours: number | null; threshold: number; dropped: number }[] = [
  { sites: 3, neighbours: null, threshold: 2, dropped: 0 },
  { sites: 20, neighbours: null, threshold: 11, dropped: 0 },
  { sites: 100, neighbours: 10, threshold: 6, dropped: 0 },
  { sites: 100, neighbours: 10, threshold: 6, dropped: 10 },
];

/**
 * `bench privacy`: one pure SecAgg round (the same state machines the coordinator and agents
 * will run, in one process) with a 1M-parameter update at 3, 20 and 100 sites, reporting the
 * server's time and the mean time one site spends, per round. Baseline: one ChaCha20 mask
 * expansion of the vector (what every pairwise or self mask costs), so the figures read as "so
 * many mask expansions".
 */
export const privacyBench: BenchSuite = {
  name: 'privacy',
  description: 'secure aggregation round time at 3, 20 and 100 sites, 1M parameters',
  async run({ print, quick }): Promise<BenchFigures> {
    const length = (quick ? PARAMETERS / 10 : PARAMETERS) + 1; // + the weight in the trailer
    const input = new Float64Array(length).fill(12345); // content does not change the cost
    const seed = new Uint8Array(32).fill(7);
    const times: number[] = [];
    for (let r = 0; r < 4; r++) {
      const t0 = performance.now();
      addMaskInto(new Float64Array(length), seed, RING_BITS, 1);
      times.push(performance.now() - t0);
    }
    const maskMs = times.slice(1).sort((a, b) => a - b)[1]; // median of 3 after a warm-up run
    print(
      `  ${length - 1} parameters, ring 2^${RING_BITS}; baseline: one mask expansion ${maskMs.toFixed(0)} ms`,
    );
    const figures: BenchFigures = { privacy_parameters: length - 1, privacy_mask_expansion_ms: maskMs };
    for (const s of SCENARIOS) {
      const ids = Array.from({ length: s.sites }, (_, i) => `site-${String(i + 1).padStart(3, '0')}`);
      const config: SecAggConfig = {
        roundId: `bench-${s.sites}`,
        threshold: s.threshold,
        neighbours: s.neighbours,
        ringBits: RING_BITS,
        vectorLength: length,
      };
      let siteMs = 0;
      let serverMs = 0;
      const start = performance.now();
      runSecAggInMemory({
        config,
        inputs: new Map(ids.map((id) => [id, input])),
        dropAfterShares: new Set(ids.slice(0, s.dropped)),
        onStep: (_step, role, ms) => (role === 'site' ? (siteMs += ms) : (serverMs += ms)),
      });
      const wallS = (performance.now() - start) / 1000;
      const perSiteS = siteMs / 1000 / s.sites;
      const graph = s.neighbours === null ? 'complete graph' : `${s.neighbours}-regular graph`;
      const key = `privacy_secagg_${s.sites}${s.dropped ? `_drop${s.dropped}` : ''}`;
      print(
        `  ${String(s.sites).padStart(3)} sites (${graph}, t = ${s.threshold}, ${s.dropped} dropped): ` +
          `server ${(serverMs / 1000).toFixed(2)} s, one site ${perSiteS.toFixed(2)} s ` +
          `(= ${(perSiteS / (maskMs / 1000)).toFixed(1)} mask expansions), whole round in one process ${wallS.toFixed(1)} s`,
      );
      figures[`${key}_server_s`] = serverMs / 1000;
      figures[`${key}_site_s`] = perSiteS;
      figures[`${key}_wall_s`] = wallS;
    }
    return figures;
  },
};
