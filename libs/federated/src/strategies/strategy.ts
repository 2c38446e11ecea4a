import { ModelPart } from '../parts';
import { NamedArray, SiteMetrics, TensorLayout, TrainingStage, UpdateKind, UpdateSource } from '../types';

/** A value in a per-round config that travels to the site inside the signed task. */
export type ConfigValue = number | string | boolean;
export type RoundConfig = Record<string, ConfigValue>;

/** What the coordinator tells `configureFit` about the round. */
export interface FitContext {
  stage: TrainingStage;
  /** Sites selected for this round (selection and quorum are the run's business). */
  siteIds: readonly string[];
  /** Pass-through settings from the run plan (local epochs, learning rate, …). */
  config?: RoundConfig;
}

/** The per-site training instruction; serialisable, it becomes part of the signed task. */
export interface FitInstruction {
  siteId: string;
  round: number;
  stage: TrainingStage;
  /** Sub-networks to train and send back (`encoder/`, `decoder/`, `head/` tensors). */
  parts: ModelPart[];
  /** `RegExp.source` of tensors that never leave the site and are never aggregated (FedBN), or null. */
  keepLocalPattern: string | null;
  /** Send full weights or the difference to the received global. */
  updateKind: UpdateKind;
  /** FedProx μ: the site adds (μ/2)·‖w − w_global‖² to its loss. 0 = plain local training. */
  proximalMu: number;
  config: RoundConfig;
  /**
   * Differential privacy at the site (set by `PrivateStrategy`): clip the delta to `clipNorm`,
   * add N(0, (noiseMultiplier·clipNorm)²) (0 when the coordinator adds the noise centrally), and
   * report whether the norm was within the clip (adaptive clipping). Absent: no clipping.
   */
  clip?: SiteClipInstruction;
}

export interface SiteClipInstruction {
  clipNorm: number;
  noiseMultiplier: number;
  reportUnclipped: boolean;
}

/** What `aggregateFit` reads: the round's updates and, lazily, the current global weights. */
export interface FitRoundInput {
  stage: TrainingStage;
  /** Layout of the full global model (names and shapes; no values needed until the fold is done). */
  globalLayout: readonly TensorLayout[];
  updates: UpdateSource;
  /**
   * Returns the current global weights as arrays the strategy may overwrite (e.g. freshly decoded
   * from the blob store). Called once, after the fold, so the global is not resident during it.
   */
  loadGlobal: () => Promise<NamedArray[]>;
  /**
   * Called once per folded tensor with its Σ wᵢ·xᵢ before the strategy turns it into the new
   * global: where central DP adds its noise, so every strategy (FedAdam included) steps on the
   * noised mean. Absent: the sum is used as folded.
   */
  perturbSum?: (name: string, sum: Float64Array) => void;
}

export interface AggregateFitResult {
  /** The new global model: every tensor of the global, in its order. */
  weights: NamedArray[];
  /** `num_sites`, `num_samples`, and the sample-weighted mean of each metric the sites reported. */
  metrics: SiteMetrics;
  /** Sites whose updates were folded, in fold order. */
  sites: string[];
}

export interface EvaluateContext {
  siteIds: readonly string[];
  config?: RoundConfig;
}

export interface EvaluateInstruction {
  siteId: string;
  round: number;
  /** Tensors the site evaluates with its own local values instead of the global's (FedBN). */
  keepLocalPattern: string | null;
  config: RoundConfig;
  /** Private evaluation: fewest patients a released histogram bin may hold (absent: fine bins). */
  minBinCount?: number;
}

export interface EvaluateResult {
  siteId: string;
  numExamples: number;
  metrics: SiteMetrics;
}

export interface AggregateEvaluateResult {
  /**
   * Example-weighted mean of each metric over the sites that reported it. A summary only: AUC is
   * not additive, so the coordinator pools AUC from score histograms (libs/metrics) instead.
   */
  metrics: SiteMetrics;
  perSite: Record<string, SiteMetrics>;
}

/**
 * A federated strategy, shaped like Flower's: a pure object that *returns* what to send and what
 * the new model is, and never touches the network or the disk. The coordinator's round service
 * calls it; tests call it with in-memory updates.
 *
 * Life of a round: `configureFit` → sites train → the `UpdateGate` admits updates into the blob
 * store and screens them → `aggregateFit` folds the survivors → `configureEvaluate` /
 * `aggregateEvaluate` when the plan evaluates.
 */
export interface Strategy {
  readonly name: string;
  /** What sites send back (the round's gate expects it too). */
  readonly updateKind: UpdateKind;
  /** The strategy's settings, for the run report and audit log. */
  readonly parameters: Readonly<Record<string, ConfigValue | null>>;
  configureFit(round: number, context: FitContext): FitInstruction[];
  /** The tensors every update of this stage must carry (the gate's expected layout). */
  uploadLayout(globalLayout: readonly TensorLayout[], stage: TrainingStage): TensorLayout[];
  aggregateFit(round: number, input: FitRoundInput): Promise<AggregateFitResult>;
  configureEvaluate(round: number, context: EvaluateContext): EvaluateInstruction[];
  aggregateEvaluate(round: number, results: readonly EvaluateResult[]): AggregateEvaluateResult;
  /** Server-side state that must survive a coordinator restart (FedAdam's moments); [] if none. */
  exportState(): NamedArray[];
  importState(state: readonly NamedArray[]): void;
}
