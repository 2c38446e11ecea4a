import { addMaskInto } from '../../../../libs/federated/src/privacy/prg';
import { packRing, unpackRing } from '../../../../libs/federated/src/privacy/ring';
import { runSecAggInMemory } from '../../../../libs/federated/src/privacy/secagg-memory';
import { SecAggConfig } from '../../../../libs/federated/src/privacy/secagg-messages';
import {
  decodeSecureSum,
  encodeSecureInput,
  SECAGG_RING_BITS,
  secureAggregationSettings,
} from '../../../../libs/federated/src/privacy/secagg-task';
import { BenchFigures, BenchSuite } from './suite';

const PARAMETERS = 1_000_000;
/** The ring the wired rounds use (secagg-task.ts). */
const RING_BITS = SECAGG_RING_BITS;

/** Graph and threshold per site count: complete graph (SecAgg) up to 20, 10-regular (SecAgg+) at 100. */
const SCENARIOS: { sites: number; neighbours: number | null; threshold: number; dropped: number }[] = [
  { sites: 3, neighbours: null, threshold: 2, dropped: 0 },
  { sites: 20, neighbours: null, threshold: 11, dropped: 0 },
  { sites: 100, neighbours: 10, threshold: 6, dropped: 0 },
  { sites: 100, neighbours: 10, threshold: 6, dropped: 10 },
];

/**
 * `bench privacy`: one SecAgg round as the wired rounds run it, in one process: the state
 * machines the coordinator and agents run, plus the site's encoding and wire packing and the
 * coordinator's range-checked unpacking and decoding, with a 1M-parameter update at 3, 20 and
 * 100 sites in the ring the rounds use; reports the coordinator's time and the mean time one site
 * spends, per round (no network). Baseline: one ChaCha20 mask
 * expansion of the vector (what every pairwise or self mask costs), so the figures read as "so
 * many mask expansions".
 */
export const privacyBench: BenchSuite = {
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
      // What the wired round adds around the state machines, timed once per party: the site
      // weights, clips and encodes its update and packs the masked vector for the wire; the
      // coordinator unpacks (range-checks) every input and decodes the unmasked sum.
      const settings = secureAggregationSettings(
        {
          secureAggregation: true,
          threshold: s.threshold,
          ...(s.neighbours ? { neighbours: s.neighbours } : {}),
        },
        s.sites,
        { runId: 'bench', stage: 'ssl', round: 0, attempt: 1 },
      );
      const upload = [{ name: 'encoder/w', shape: [length - 1] }];
      const update = [
        { name: 'encoder/w', shape: [length - 1], values: new Float32Array(length - 1).fill(0.01) },
      ];
      const t0 = performance.now();
      const encoded = encodeSecureInput(update, 100, settings).input;
      const packed = packRing(encoded, RING_BITS);
      const siteWireMs = performance.now() - t0;
      const t1 = performance.now();
      unpackRing(packed, RING_BITS, length);
      const unpackMs = performance.now() - t1;
      const t2 = performance.now();
      decodeSecureSum(encoded, settings, upload);
      const decodeMs = performance.now() - t2;
      let siteMs = siteWireMs * s.sites;
      let serverMs = unpackMs * (s.sites - s.dropped) + decodeMs;
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
