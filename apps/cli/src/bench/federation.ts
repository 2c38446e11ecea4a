import { performance } from 'node:perf_hooks';
import { Rng } from '../../../../libs/common/src';
import {
  decodeSelected,
  EncodedUpdateSource,
  FedAvg,
  simulatedLayout,
  simulatedWeights,
  UpdateEntry,
  UpdateGate,
} from '../../../../libs/federated/src';
import { decodeWeights, encodeWeights, weightsDigest } from '../../../../libs/weights/src';
import { BenchFigures, BenchSuite } from './suite';

const SITES = 20;
const PARAMS = 1_000_000;
const ROUND_TARGET_MS = 1000;

/**
 * Coordinator time per round, excluding training: 20 simulated sites whose float32 updates of a
 * 1M-parameter model all arrive at once. Timed: decode (header check, float32 views on the
 * received buffer) + arrival checks (names, shapes, finite, delta norm) per update, round screening (norm bound), the FedAvg fold in site order reading
 * each update back from the (in-memory) blob store, and encoding + SHA-512 of the new global.
 * Baseline: a plain float64 sum over the same update bytes, no checks and no codec.
 */
export const federationSuite: BenchSuite = {
  name: 'federation',
  description: 'coordinator time per round (20 sites × 1M parameters) and FedAvg throughput',
  async run({ print, quick, log }) {
    const repeats = quick ? 1 : 5;
    const layout = simulatedLayout(PARAMS);
    const rng = new Rng(2024);
    const global = simulatedWeights(layout, rng, 0.1);
    const globalBuffer = encodeWeights(global);
    const strategy = new FedAvg();
    // Stage 1 (SSL): sites send encoder + decoder, so an update is the model minus the head.
    const uploaded = strategy.uploadLayout(layout, 'ssl');
    const updateParams = uploaded.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
    const siteIds = Array.from({ length: SITES }, (_, i) => `hospital-${String(i + 1).padStart(2, '0')}`);
    // Encoded once, outside the timing: what the sites send.
    const incoming = new Map(
      siteIds.map((id) => [id, encodeWeights(simulatedWeights(uploaded, rng.fork(), 0.01))]),
    );
    const samples = new Map(siteIds.map((id, i) => [id, 20 + 7 * i]));
    log.debug({ sites: SITES, params: PARAMS, repeats }, 'federation bench set up');

    const phases = {
      arrival: [] as number[],
      fold: [] as number[],
      publish: [] as number[],
      round: [] as number[],
    };
    const baseline: number[] = [];
    let digest = '';
    for (let r = 0; r < repeats; r++) {
      const arrivalOrder = new Rng(r).shuffle([...siteIds]);
      const t0 = performance.now();
      const gate = new UpdateGate({
        expectedLayout: strategy.uploadLayout(layout, 'ssl'),
        expectedKind: 'delta',
      });
      const blobStore = new Map<string, Uint8Array>();
      const admitted: UpdateEntry[] = [];
      for (const siteId of arrivalOrder) {
        const buffer = incoming.get(siteId) as Buffer;
        const admission = gate.admit({
          siteId,
          kind: 'delta',
          numSamples: samples.get(siteId) ?? 1,
          arrays: decodeWeights(buffer),
        });
        if (!admission.admitted) throw new Error(`bench update refused: ${admission.rejection.reason}`);
        admitted.push(admission.entry);
        blobStore.set(siteId, buffer);
      }
      const { accepted } = gate.screen(admitted);
      const t1 = performance.now();
      const result = await strategy.aggregateFit(r + 1, {
        stage: 'ssl',
        globalLayout: layout,
        updates: new EncodedUpdateSource(accepted, (siteId) => blobStore.get(siteId) as Uint8Array),
        loadGlobal: async () => decodeWeights(globalBuffer),
      });
      const t2 = performance.now();
      const published = encodeWeights(result.weights);
      digest = weightsDigest(published);
      const t3 = performance.now();
      phases.arrival.push(t1 - t0);
      phases.fold.push(t2 - t1);
      phases.publish.push(t3 - t2);
      phases.round.push(t3 - t0);
      baseline.push(
        plainSumMs(
          siteIds.map((id) => incoming.get(id) as Buffer),
          updateParams,
        ),
      );
    }

    const roundMs = median(phases.round);
    const foldMs = median(phases.fold);
    const baselineMs = median(baseline);
    const paramSites = updateParams * SITES;
    const figures: BenchFigures = {
      federation_sites: SITES,
      federation_params: PARAMS,
      federation_update_params: updateParams,
      federation_repeats: repeats,
      federation_round_ms: round1(roundMs),
      federation_round_target_ms: ROUND_TARGET_MS,
      federation_round_within_target: roundMs <= ROUND_TARGET_MS,
      federation_arrival_ms: round1(median(phases.arrival)),
      federation_fold_ms: round1(foldMs),
      federation_publish_ms: round1(median(phases.publish)),
      federation_fedavg_param_sites_per_s: Math.round(paramSites / (foldMs / 1000)),
      federation_round_param_sites_per_s: Math.round(paramSites / (roundMs / 1000)),
      federation_baseline_sum_ms: round1(baselineMs),
      federation_fold_vs_baseline: round2(foldMs / baselineMs),
      federation_round_vs_baseline: round2(roundMs / baselineMs),
      federation_global_digest: digest.slice(0, 16),
    };
    print(
      `federation: ${SITES} sites × ${PARAMS.toLocaleString('en')}-parameter model (${updateParams.toLocaleString('en')} sent in SSL), median of ${repeats}`,
    );
    print(
      `  round (excl. training) ${figures.federation_round_ms} ms (target ≤ ${ROUND_TARGET_MS} ms: ${roundMs <= ROUND_TARGET_MS ? 'met' : 'MISSED'})`,
    );
    print(
      `    arrival (decode + checks) ${figures.federation_arrival_ms} ms, fold ${figures.federation_fold_ms} ms, encode + digest ${figures.federation_publish_ms} ms`,
    );
    print(`  FedAvg fold ${(paramSites / (foldMs / 1000) / 1e6).toFixed(1)} M params·sites/s`);
    print(
      `  baseline plain float64 sum ${figures.federation_baseline_sum_ms} ms → fold ×${figures.federation_fold_vs_baseline}, round ×${figures.federation_round_vs_baseline}`,
    );
    return figures;
  },
};

/**
 * The floor for any fold: sum every update's float32 data into float64 (views on the buffers,
 * found from the header), with no checks, no weights and no ordering.
 */
function plainSumMs(buffers: Buffer[], params: number): number {
  const t0 = performance.now();
  const sum = new Float64Array(params);
  for (const buffer of buffers) {
    let position = 0;
    for (const { values } of decodeSelected(buffer, () => true)) {
      for (let i = 0; i < values.length; i++) sum[position + i] += values[i];
      position += values.length;
    }
  }
  const elapsed = performance.now() - t0;
  if (Number.isNaN(sum[0])) throw new Error('bench data holds NaN');
  return elapsed;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
