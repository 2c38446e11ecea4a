import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Log, Rng } from '../../../../libs/common/src';
import { simulatedLayout, simulatedWeights } from '../../../../libs/federated/src';
import { decodeWeights, encodeWeights } from '../../../../libs/weights/src';
import { PLAN_ENCODINGS } from '../../../coordinator/src/runs/dto/run-plan.dto';
import { validatePlan } from '../../../coordinator/src/runs/run-plan';
import { runSimulation, SimulatedSite } from '../simulate/simulation';
import { SyntheticDeltas, SyntheticSite } from '../simulate/synthetic-site';
import { BenchFigures, BenchOptions, BenchSuite } from './suite';

const PARAMS = 1_000_000;
/** The first size is the baseline of the ratios: a consortium of today's size. */
const FULL_SITES = [20, 100, 1000];
const QUICK_SITES = [20, 100];
const SEED = 2024;

export interface FederationScenario {
  sites: number;
  params: number;
  /** SSL rounds of the plan: every one a training round of all sites. */
  rounds: number;
  encoding: (typeof PLAN_ENCODINGS)[number];
  /** Channels of the simulated model's blocks (default 64; fewer for a model of a few thousand parameters). */
  channels?: number;
}

/** What one simulated run cost the coordinator (real time; the sites' own work subtracted). */
export interface FederationMeasurement {
  sites: number;
  params: number;
  rounds: number;
  roundsDone: number;
  state: 'completed' | 'failed';
  reason?: string;
  /** Per training round: wall time between round closes minus the time inside the sites. */
  roundMs: number[];
  medianRoundMs: number;
  /** Median round ÷ sites. */
  perSiteMs: number;
  /** The sites' own time (making updates), all rounds: subtracted from `roundMs`. */
  siteMs: number;
  /** Share of the coordinator's time spent in the strategy folds (FoldRunner). */
  foldShare: number;
  engineSteps: number;
  /** Median time of one engine step (`engineStep`, its state clone included), µs. */
  engineStepUs: number;
  /** Mean of the same: with the steps that a garbage collection or the first compile landed in. */
  engineStepMeanUs: number;
  /** Share of the coordinator's time spent stepping the engine. */
  engineShare: number;
  rssStartMb: number;
  rssPeakMb: number;
  /** (peak − start) RSS in units of the model's float32 bytes: flat if the fold streams. */
  rssGrowthModels: number;
  finalDigest?: string;
}

/** Logs only warnings and errors: the engine's per-update info lines would drown the bench's. */
function quiet(log: Log): Log {
  return { debug() {}, info() {}, warn: (o, m) => log.warn(o, m), error: (o, m) => log.error(o, m) };
}

/** The process's resident set, sampled: `peak` is the largest seen since `reset`. */
class RssPeak {
  peak = 0;
  sample(): number {
    const rss = process.memoryUsage.rss();
    if (rss > this.peak) this.peak = rss;
    return rss;
  }
  reset(): number {
    this.peak = 0;
    return this.sample();
  }
}

/**
 * One federated run of `scenario.sites` synthetic sites on the production engine (`runSimulation`:
 * RunDriver, RunLedger over SQLite, UpdateAdmission, FoldRunner over the blob store), FedAvg,
 * SSL rounds of a simulated `params`-parameter model. The sites answer at once with ready-made
 * deltas, so what is timed is the coordinator: dispatch, intake and gate, storing, the engine,
 * the fold, publishing. Its work folder (a temporary one under `workRoot`) is removed after.
 */
export async function measureFederation(
  scenario: FederationScenario,
  log: Log,
  workRoot = tmpdir(),
): Promise<FederationMeasurement> {
  const { sites: n, params, rounds, encoding } = scenario;
  const plan = validatePlan(
    {
      name: `bench federation ${n} sites`,
      seed: SEED,
      sites: 'all',
      stages: {
        ssl: { rounds, localEpochs: 1, optimiser: { name: 'adam', lr: 0.001 }, maskRatio: 0.6, batchSize: 8 },
      },
      strategy: { name: 'fedavg' },
      quorum: { minSites: n },
      roundDeadlineSeconds: 3600,
      maxRetries: 0,
      encoding,
      evaluation: { final: false, everyKRounds: 0, crossSite: false },
    },
    'bench federation plan',
  );
  const initialModel = encodeWeights(
    simulatedWeights(simulatedLayout(params, scenario.channels), new Rng(SEED), 0.1),
  );
  const deltas = new SyntheticDeltas(SEED + 1);
  const synthetic = Array.from(
    { length: n },
    (_, i) => new SyntheticSite(`site-${String(i + 1).padStart(4, '0')}`, i, deltas),
  );
  const rss = new RssPeak();
  const sampled: SimulatedSite[] = synthetic.map((site) => ({
    siteId: site.siteId,
    run: (task, model) => {
      rss.sample();
      return site.run(task, model);
    },
  }));
  const siteMs = () => synthetic.reduce((sum, s) => sum + s.busyMs, 0);
  // Between awaits (the fold reads each update from disk) the event loop turns: sample there too.
  const timer = setInterval(() => rss.sample(), 25);
  const workDir = mkdtempSync(join(workRoot, 'phcc-bench-federation-'));
  const rssStart = rss.reset();
  const roundMs: number[] = [];
  let last = { at: performance.now(), siteMs: 0 };
  try {
    const outcome = await runSimulation({
      plan,
      initialModel,
      sites: sampled,
      workDir,
      log: quiet(log),
      onRound: ({ state }) => {
        rss.sample();
        const now = { at: performance.now(), siteMs: siteMs() };
        if (state === 'done') roundMs.push(now.at - last.at - (now.siteMs - last.siteMs));
        last = now;
      },
    });
    await outcome.store.close();
    const coordinatorMs = roundMs.reduce((a, b) => a + b, 0);
    const median = medianOf(roundMs);
    const { engineStepMs, foldMs } = outcome.timings;
    const engineMs = engineStepMs.reduce((a, b) => a + b, 0);
    return {
      sites: n,
      params,
      rounds,
      roundsDone: roundMs.length,
      state: outcome.state,
      ...(outcome.reason ? { reason: outcome.reason } : {}),
      roundMs: roundMs.map(round1),
      medianRoundMs: round1(median),
      perSiteMs: round2(median / n),
      siteMs: round1(siteMs()),
      foldShare: round2(foldMs / coordinatorMs),
      engineSteps: engineStepMs.length,
      engineStepUs: round1(medianOf(engineStepMs) * 1000),
      engineStepMeanUs: round1((engineMs / Math.max(1, engineStepMs.length)) * 1000),
      engineShare: round2(engineMs / coordinatorMs),
      rssStartMb: round1(rssStart / 2 ** 20),
      rssPeakMb: round1(rss.peak / 2 ** 20),
      rssGrowthModels: round2((rss.peak - rssStart) / (params * 4)),
      finalDigest: outcome.finalDigest,
    };
  } finally {
    clearInterval(timer);
    rmSync(workDir, { recursive: true, force: true });
  }
}

/**
 * `bench federation`: the production round engine with 20, 100 and 1,000 synthetic sites and a
 * 1M-parameter model (float16 updates, FedAvg, SSL rounds). Per size: coordinator time per
 * training round (median), per site, the fold's and the engine's shares of it, time per engine
 * step, and the process's peak RSS. Baseline, same run: the 20-site federation, against which
 * per-site cost and peak RSS are given as ratios.
 */
export interface FederationBenchOptions {
  /** Site counts, smallest first: the first is the baseline of the ratios. */
  sizes: number[];
  params: number;
  rounds: number;
  encoding: FederationScenario['encoding'];
  channels?: number;
}

/**
 * The figures of `bench federation` for any sizes: one `measureFederation` per size, each as
 * absolute figures and as ratios against the first (smallest) size, measured in the same run.
 * Throws if a run did not complete every round.
 */
export async function federationFigures(
  options: FederationBenchOptions,
  { print, log }: Pick<BenchOptions, 'print' | 'log'>,
  workRoot?: string,
): Promise<BenchFigures> {
  const { sizes, params, rounds, encoding, channels } = options;
  const baseSites = sizes[0];
  print(
    `federation: production engine (runSimulation), FedAvg, ${rounds} SSL rounds, ${params.toLocaleString('en')}-parameter model, ${encoding} updates; synthetic sites (time inside them subtracted)`,
  );
  const figures: BenchFigures = {
    federation_params: params,
    federation_rounds: rounds,
    federation_encoding: encoding,
    federation_sizes: sizes,
  };
  let base: FederationMeasurement | undefined;
  for (const sites of sizes) {
    // Just before each size: the machine's load drifts over a long run.
    const floorMs = foldFloorMs(params, encoding, channels);
    const m = await measureFederation({ sites, params, rounds, encoding, channels }, log, workRoot);
    if (m.state !== 'completed' || m.roundsDone !== rounds) {
      throw new Error(
        `bench federation: the ${sites}-site run ended ${m.state} after ${m.roundsDone} of ${rounds} rounds (${m.reason ?? 'no reason given'})`,
      );
    }
    base ??= m;
    const perSiteRatio = round2(m.perSiteMs / base.perSiteMs);
    const rssRatio = round2(m.rssPeakMb / base.rssPeakMb);
    const key = `federation_sites_${sites}`;
    Object.assign(figures, {
      [`${key}_round_ms`]: m.medianRoundMs,
      [`${key}_rounds_ms`]: m.roundMs,
      [`${key}_rounds_done`]: m.roundsDone,
      [`${key}_per_site_ms`]: m.perSiteMs,
      [`${key}_per_site_vs_base`]: perSiteRatio,
      [`${key}_floor_ms`]: round2(floorMs),
      [`${key}_per_site_vs_floor`]: round2(m.perSiteMs / floorMs),
      [`${key}_fold_share`]: m.foldShare,
      [`${key}_engine_steps`]: m.engineSteps,
      [`${key}_engine_step_us`]: m.engineStepUs,
      [`${key}_engine_step_mean_us`]: m.engineStepMeanUs,
      [`${key}_engine_share`]: m.engineShare,
      [`${key}_site_ms`]: m.siteMs,
      [`${key}_rss_peak_mb`]: m.rssPeakMb,
      [`${key}_rss_vs_base`]: rssRatio,
      [`${key}_rss_growth_models`]: m.rssGrowthModels,
    });
    print(
      `  ${String(sites).padStart(4)} sites: round ${(m.medianRoundMs / 1000).toFixed(2)} s (median of ${m.roundsDone}), ` +
        `${m.perSiteMs} ms/site (×${perSiteRatio} vs ${baseSites} sites, ×${round2(m.perSiteMs / floorMs)} vs the floor: decode + sum one update ${round2(floorMs)} ms); fold ${Math.round(m.foldShare * 100)} %, ` +
        `engine ${Math.round(m.engineShare * 100)} % (${m.engineSteps} steps, median ${m.engineStepUs} µs, mean ${m.engineStepMeanUs} µs); ` +
        `peak RSS ${m.rssPeakMb} MiB (×${rssRatio} vs ${baseSites} sites; +${m.rssGrowthModels} models over its start)`,
    );
  }
  return figures;
}

/**
 * `bench federation`: the production round engine with 20, 100 and 1,000 synthetic sites and a
 * 1M-parameter model (float16 updates, FedAvg, SSL rounds). Per size: coordinator time per
 * training round (median), per site, the fold's and the engine's shares of it, time per engine
 * step, and the process's peak RSS. Baseline, same run: the 20-site federation, against which
 * per-site cost and peak RSS are given as ratios (`_vs_base`).
 */
export const federationSuite: BenchSuite = {
  run: ({ print, quick, log }) =>
    federationFigures(
      { sizes: quick ? QUICK_SITES : FULL_SITES, params: PARAMS, rounds: quick ? 2 : 3, encoding: 'float16' },
      { print, log },
    ),
};

/**
 * The least any coordinator must spend on one update, measured in the same run: decode it from its
 * bytes and add it into a float64 sum (no checks, no store, no engine). Median of 5.
 */
function foldFloorMs(params: number, encoding: FederationScenario['encoding'], channels?: number): number {
  const payload = encodeWeights(
    simulatedWeights(simulatedLayout(params, channels), new Rng(SEED), 0.01),
    encoding,
  );
  const times: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    const sum = new Float64Array(params);
    let position = 0;
    for (const { values } of decodeWeights(payload)) {
      for (let i = 0; i < values.length; i++) sum[position + i] += values[i];
      position += values.length;
    }
    times.push(performance.now() - t0);
    if (Number.isNaN(sum[0])) throw new Error('bench federation: the floor summed NaN');
  }
  return medianOf(times);
}

function medianOf(values: number[]): number {
  if (values.length === 0) return NaN;
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
