import { InputError } from '../../../common/src';
import {
  AdaptiveClipState,
  initialAdaptiveClip,
  nextAdaptiveClip,
  UNCLIPPED_METRIC,
  updateNoiseMultiplier,
} from '../privacy/dp/adaptive-clip';
import { NoisePlacement, NoiseSource, secureNormalNoise, siteNoiseMultiplier } from '../privacy/dp/gaussian';
import { noiseMultiplierFor, RdpAccountant, roundEpsilon } from '../privacy/dp/rdp-accountant';
import { NamedArray, SiteMetrics, TensorLayout, TrainingStage, UpdateSource } from '../types';
import {
  AggregateEvaluateResult,
  AggregateFitResult,
  ConfigValue,
  EvaluateContext,
  EvaluateInstruction,
  EvaluateResult,
  FitContext,
  FitInstruction,
  FitRoundInput,
  Strategy,
} from './strategy';

/**
 * Round metrics the private strategy adds to every training round it aggregates (the run's
 * results, report, `demo --json` and dashboard read them; one vocabulary).
 */
export const DP_METRICS = {
  /** ε spent by the run so far (all training rounds aggregated), at `delta`. */
  epsilon: 'dp/epsilon',
  /** ε of this round alone. */
  roundEpsilon: 'dp/round_epsilon',
  delta: 'dp/delta',
  /** The clip norm C this round used. */
  clip: 'dp/clip',
  /** z, the multiplier the accountant charges (σ = z·C on the sum). */
  noiseMultiplier: 'dp/noise_multiplier',
  /** Adaptive clipping: the noised fraction of sites whose update was within the clip. */
  unclippedFraction: 'dp/unclipped_fraction',
} as const;

/**
 * Options of `PrivateStrategy` (the plan's `privacy` section in libs/federated's terms).
 * - `dp` (default none): site-level DP-FedAvg. `clip` C; exactly one of `noiseMultiplier` z and
 *   `targetEpsilon` (z then derived for `trainingRounds` rounds at q = 1); `delta`;
 *   `noise` 'central' (the coordinator adds N(0, (zC)²) to the sum) or 'distributed' (each site
 *   adds N(0, (zC)²/t), t = `minSummedSites`, the secure-aggregation threshold); `adaptive`
 *   with `targetQuantile` (default 0.5).
 * - `minBinCount` (default none): k of the k-anonymous evaluation histograms sites release.
 * - `noise`: the coordinator's noise source (default the OS CSPRNG); tests pass a seeded one.
 */
export interface PrivateStrategyOptions {
  dp?: {
    clip: number;
    noiseMultiplier?: number;
    targetEpsilon?: number;
    delta: number;
    noise?: NoisePlacement;
    adaptive?: boolean;
    targetQuantile?: number;
    /** Training rounds the run aggregates (what `targetEpsilon` is spread over). */
    trainingRounds: number;
    /** Distributed noise: the fewest sites any round sums (the secure-aggregation threshold t). */
    minSummedSites?: number;
  };
  minBinCount?: number;
  noise?: NoiseSource;
}

interface DpSettings {
  noiseMultiplier: number;
  delta: number;
  placement: NoisePlacement;
  minSummedSites: number;
  adaptive: boolean;
  targetQuantile: number;
}

/** The state a restarted coordinator needs: rounds composed, the current clip, σ_b. */
const STATE_TENSOR = 'privacy/dp_state';

/**
 * Differential privacy as a strategy that wraps another (Flower's DifferentialPrivacy wrappers,
 * McMahan et al. 2018's DP-FedAvg): every training round sites clip their delta to C (and, with
 * distributed noise, add their share of it); the fold weighs every site equally (w = 1, so one
 * site moves the sum by at most C); central noise N(0, (zC)²) is added to the folded sum before
 * the inner strategy steps (`perturbSum`); the RDP accountant composes the round and reports ε.
 * Evaluation instructions carry the plan's k for k-anonymous histograms.
 *
 * q = 1 in the accountant: every linked site takes part in every round in this system, so
 * privacy amplification by sampling is not claimed.
 */
export class PrivateStrategy implements Strategy {
  readonly name: string;
  private readonly dp: DpSettings | undefined;
  private clipState: AdaptiveClipState | undefined;
  private roundsComposed = 0;
  private readonly noise: NoiseSource;

  constructor(
    private readonly inner: Strategy,
    private readonly options: PrivateStrategyOptions,
  ) {
    this.name = inner.name;
    this.noise = options.noise ?? secureNormalNoise();
    const dp = options.dp;
    if (
      options.minBinCount !== undefined &&
      !(Number.isInteger(options.minBinCount) && options.minBinCount >= 1)
    ) {
      throw new InputError(
        `privacy.evaluation.minBinCount must be a positive integer (got ${options.minBinCount})`,
      );
    }
    if (!dp) return;
    if (inner.updateKind !== 'delta') {
      throw new InputError('privacy.dp clips and noises deltas: the strategy must use updateKind "delta"');
    }
    if ((dp.noiseMultiplier === undefined) === (dp.targetEpsilon === undefined)) {
      throw new InputError('privacy.dp needs exactly one of noiseMultiplier and targetEpsilon');
    }
    const rounds = Math.max(1, dp.trainingRounds);
    const noiseMultiplier = dp.noiseMultiplier ?? noiseMultiplierFor(dp.targetEpsilon!, dp.delta, 1, rounds);
    const placement = dp.noise ?? 'central';
    const minSummedSites = dp.minSummedSites ?? 1;
    // Validates z ≥ 0 and t ≥ 1 once, before any round.
    siteNoiseMultiplier(noiseMultiplier, placement, minSummedSites);
    this.dp = {
      noiseMultiplier,
      delta: dp.delta,
      placement,
      minSummedSites,
      adaptive: dp.adaptive === true,
      targetQuantile: dp.targetQuantile ?? 0.5,
    };
    // σ_b: the paper's expected-sites/20 is for thousands of clients; with a handful of hospitals
    // it must also exceed z/2 for z_Δ to exist, so it is set to z (z_Δ = 1.155·z) once the
    // number of sites is known (first round), never below sites/20.
    this.clipState = initialAdaptiveClip({ initialClip: dp.clip, countNoiseStd: 0 });
  }

  get updateKind() {
    return this.inner.updateKind;
  }

  get parameters(): Readonly<Record<string, ConfigValue | null>> {
    const dp = this.dp;
    return {
      ...this.inner.parameters,
      ...(dp
        ? {
            dpNoiseMultiplier: dp.noiseMultiplier,
            dpDelta: dp.delta,
            dpNoise: dp.placement,
            dpAdaptive: dp.adaptive,
            dpClip: this.clipState!.clip,
          }
        : {}),
      minBinCount: this.options.minBinCount ?? null,
    };
  }

  /** z the accountant charges per round (derived from targetEpsilon when the plan gave one). */
  get noiseMultiplier(): number | undefined {
    return this.dp?.noiseMultiplier;
  }

  configureFit(round: number, context: FitContext): FitInstruction[] {
    const instructions = this.inner.configureFit(round, context);
    const dp = this.dp;
    if (!dp) return instructions;
    const state = this.ensureCountNoise(context.siteIds.length);
    const clipNorm = state.clip;
    const updateMultiplier = dp.adaptive
      ? updateNoiseMultiplier(dp.noiseMultiplier, state.countNoiseStd)
      : dp.noiseMultiplier;
    const noiseMultiplier = siteNoiseMultiplier(updateMultiplier, dp.placement, dp.minSummedSites);
    return instructions.map((i) => ({
      ...i,
      clip: { clipNorm, noiseMultiplier, reportUnclipped: dp.adaptive },
    }));
  }

  uploadLayout(globalLayout: readonly TensorLayout[], stage: TrainingStage): TensorLayout[] {
    return this.inner.uploadLayout(globalLayout, stage);
  }

  async aggregateFit(round: number, input: FitRoundInput): Promise<AggregateFitResult> {
    const dp = this.dp;
    if (!dp) return this.inner.aggregateFit(round, input);
    const state = this.clipState!;
    const entries = input.updates.entries();
    const sigma = this.centralSigma(state);
    const result = await this.inner.aggregateFit(round, {
      ...input,
      updates: equalWeights(input.updates),
      perturbSum: sigma > 0 ? (_name, sum) => addNoise(sum, sigma, this.noise) : input.perturbSum,
    });
    const metrics: SiteMetrics = {
      ...result.metrics,
      num_samples: entries.reduce((total, e) => total + e.numSamples, 0),
    };
    this.roundsComposed++;
    const step = { noiseMultiplier: dp.noiseMultiplier, sampleRate: 1 };
    metrics[DP_METRICS.epsilon] = this.spent().epsilon;
    metrics[DP_METRICS.roundEpsilon] = roundEpsilon(step, dp.delta).epsilon;
    metrics[DP_METRICS.delta] = dp.delta;
    metrics[DP_METRICS.clip] = state.clip;
    metrics[DP_METRICS.noiseMultiplier] = dp.noiseMultiplier;
    delete metrics[UNCLIPPED_METRIC];
    if (dp.adaptive) {
      const bits = entries.reduce((total, e) => total + (e.metrics[UNCLIPPED_METRIC] === 1 ? 1 : 0), 0);
      const noisy = bits + this.noise.normal(0, state.countNoiseStd);
      metrics[DP_METRICS.unclippedFraction] = Math.min(1, Math.max(0, noisy / entries.length));
      this.clipState = nextAdaptiveClip(state, noisy, entries.length);
    }
    return { ...result, metrics };
  }

  /** (ε, δ) the run has spent so far: every aggregated training round at multiplier z, q = 1. */
  spent(): { epsilon: number; delta: number } {
    const dp = this.dp;
    if (!dp) return { epsilon: Infinity, delta: 0 };
    const spent = new RdpAccountant()
      .compose({ noiseMultiplier: dp.noiseMultiplier, sampleRate: 1, steps: this.roundsComposed })
      .spent(dp.delta);
    return { epsilon: spent.epsilon, delta: dp.delta };
  }

  configureEvaluate(round: number, context: EvaluateContext): EvaluateInstruction[] {
    const k = this.options.minBinCount;
    const instructions = this.inner.configureEvaluate(round, context);
    return k === undefined ? instructions : instructions.map((i) => ({ ...i, minBinCount: k }));
  }

  aggregateEvaluate(round: number, results: readonly EvaluateResult[]): AggregateEvaluateResult {
    return this.inner.aggregateEvaluate(round, results);
  }

  exportState(): NamedArray[] {
    const inner = this.inner.exportState();
    if (!this.dp) return inner;
    const s = this.clipState!;
    return [
      ...inner,
      {
        name: STATE_TENSOR,
        shape: [3],
        values: Float32Array.from([this.roundsComposed, s.clip, s.countNoiseStd]),
      },
    ];
  }

  importState(state: readonly NamedArray[]): void {
    const own = state.find((a) => a.name === STATE_TENSOR);
    this.inner.importState(state.filter((a) => a.name !== STATE_TENSOR));
    if (!this.dp) {
      if (own) throw new InputError('saved strategy state holds DP state but the plan has no privacy.dp');
      return;
    }
    if (!own) {
      // A state saved by a strategy without DP state (no round aggregated yet): nothing to restore.
      if (state.length === 0) return;
      throw new InputError(`saved strategy state lacks ${STATE_TENSOR}`);
    }
    const [rounds, clip, countNoiseStd] = own.values;
    this.roundsComposed = rounds;
    this.clipState = { ...this.clipState!, clip, countNoiseStd };
  }

  /** σ of the noise the coordinator adds to the folded sum: z_Δ·C centrally, 0 when sites add it. */
  private centralSigma(state: AdaptiveClipState): number {
    const dp = this.dp!;
    if (dp.placement !== 'central') return 0;
    const z = dp.adaptive
      ? updateNoiseMultiplier(dp.noiseMultiplier, state.countNoiseStd)
      : dp.noiseMultiplier;
    return z * state.clip;
  }

  private ensureCountNoise(sites: number): AdaptiveClipState {
    const state = this.clipState!;
    if (this.dp!.adaptive && state.countNoiseStd === 0) {
      this.clipState = { ...state, countNoiseStd: Math.max(sites / 20, this.dp!.noiseMultiplier, 0.5) };
    }
    return this.clipState!;
  }
}

/** The round's updates with every site weighing 1: with DP the sensitivity of the sum is C. */
function equalWeights(source: UpdateSource): UpdateSource {
  return {
    entries: () => source.entries().map((e) => ({ ...e, numSamples: 1 })),
    read: (siteId, wanted) => source.read(siteId, wanted),
  };
}

function addNoise(sum: Float64Array, sigma: number, noise: NoiseSource): void {
  for (let i = 0; i < sum.length; i++) sum[i] += noise.normal(0, sigma);
}
