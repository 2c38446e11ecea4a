// @Type() reads design-time metadata: load the polyfill here so the library works in any host.
import 'reflect-metadata';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { PROTOCOL_ERROR_CODES, ProtocolErrorCode } from '../errors';
import { OPTIMISER_NAMES, OptimiserName } from '../optimisers';
import {
  DIGEST_PATTERN,
  MAX_COMPARED_MODELS,
  MAX_PAYLOAD_BYTES_LIMIT,
  MAX_TIMESTAMP_MS,
  MIN_TIMESTAMP_MS,
  MODEL_PARTS,
  ModelPart,
  OPTIMISER_NAME_PATTERN,
  PROTOCOL_VERSION,
  SIGNATURE_PATTERN,
  Stage,
  STAGES,
  UPDATE_KINDS,
  UpdateKind,
  WEIGHT_ENCODINGS,
  WeightEncoding,
} from '../version';
import { CrossFieldCheck } from './parse';
import { SecureAggregationConfigDto } from './secagg-config';
import { IsDigest, IsMetricMap, IsNonce, IsPlainRecord, IsProtocolId } from './validators';
import { CONSENT_REFUSAL_CODES, ConsentRefusalCode } from '../consent';

/**
 * The body of every signed message: who sent it, a nonce and when. The envelope verifier checks
 * `sender` against the envelope's signer, the nonce against replays and the timestamp against
 * its window.
 */
export abstract class SignedBodyBase {
  @IsProtocolId()
  sender!: string;

  @IsNonce()
  nonce!: string;

  @IsInt()
  @Min(MIN_TIMESTAMP_MS)
  @Max(MAX_TIMESTAMP_MS)
  timestamp!: number;
}

/** Bodies that belong to one task of one round of one run: these four bind a message to its place. */
export abstract class RunScopedBody extends SignedBodyBase {
  @IsProtocolId()
  runId!: string;

  @IsInt()
  @Min(0)
  @Max(100_000)
  round!: number;

  @IsProtocolId()
  taskId!: string;

  @IsIn(STAGES)
  stage!: Stage;
}

/** Hyper-parameters a task hands a site; bounded so a bad plan cannot ask for absurd work. */
/**
 * The DCE phases a run's model takes (the plan's `phases`): names in acquisition order and,
 * when the protocol fixes them, nominal seconds after injection. A site whose model or cohort
 * takes other phases declines the task with PHASE_MISMATCH instead of training on other images.
 */
export class TaskPhasesDto {
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(16)
  @IsString({ each: true })
  @MaxLength(64, { each: true })
  names!: string[];

  @IsOptional()
  @IsArray()
  @ArrayMaxSize(16)
  @IsNumber({ allowNaN: false, allowInfinity: false }, { each: true })
  @Min(0, { each: true })
  @Max(86_400, { each: true })
  times?: number[];
}

/**
 * Protocol 1.4: the site-local SSL stage of a local-only task (`TaskConfigDto.localOnlySsl`), the
 * plan's SSL stage as `train` runs it at one site: `epochs` = the stage's rounds × local epochs
 * over one warm-up + cosine schedule, a fresh optimiser, the task's seed. Every field is required:
 * a half-specified recipe would silently fall back on the agent's defaults.
 */
export class LocalOnlySslDto {
  @IsInt()
  @Min(1)
  @Max(1000)
  epochs!: number;

  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(1e-9)
  @Max(10)
  learningRate!: number;

  @IsInt()
  @Min(1)
  @Max(4096)
  batchSize!: number;

  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(0.95)
  maskRatio!: number;

  @IsIn(OPTIMISER_NAMES)
  optimiser!: OptimiserName;

  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(1)
  weightDecay!: number;

  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(100_000)
  warmupEpochs!: number;
}

export class TaskConfigDto {
  @IsInt()
  @Min(1)
  @Max(1000)
  localEpochs!: number;

  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(1e-9)
  @Max(10)
  learningRate!: number;

  @IsInt()
  @Min(1)
  @Max(4096)
  batchSize!: number;

  /** FedProx proximal weight μ; 0 (or absent) is plain FedAvg local training. */
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(100)
  proximalMu?: number;

  /** SSL only: fraction of patches masked. */
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(0.95)
  maskRatio?: number;

  /**
   * Fine-tune only: how many of this task's first local epochs train the head with the encoder
   * frozen. The coordinator spreads the plan's warm-up over rounds; absent = 0.
   */
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(1000)
  freezeEncoderEpochs?: number;

  @IsInt()
  @Min(0)
  @Max(4_294_967_295)
  seed!: number;

  @IsIn(WEIGHT_ENCODINGS)
  updateEncoding!: WeightEncoding;

  @IsIn(UPDATE_KINDS)
  updateKind!: UpdateKind;

  /** The plan's limit on the update this task may produce; the coordinator enforces it. */
  @IsInt()
  @Min(1)
  @Max(MAX_PAYLOAD_BYTES_LIMIT)
  maxUpdateBytes!: number;

  // Faithful federated training (docs/MODEL.md, "Federated training as `train` does it"). All
  // optional: a task without them trains as before (AdamW at the model's default decay, a fresh
  // optimiser and a schedule of its own local epochs).

  /** The plan's `phases`; absent when the plan names none (the site's own model decides). */
  @IsOptional()
  @ValidateNested()
  @Type(() => TaskPhasesDto)
  phases?: TaskPhasesDto;

  /** The plan's `optimiser.name`. */
  @IsOptional()
  @IsIn(OPTIMISER_NAMES)
  optimiser?: OptimiserName;

  /** The plan's `optimiser.weightDecay` (decoupled, on kernels). */
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(1)
  weightDecay?: number;

  /**
   * The stage's one LR schedule: this task's first local epoch is global epoch
   * `scheduleStartEpoch` (0-based) of `scheduleTotalEpochs`, with `warmupEpochs` of linear
   * warm-up at the start of the stage. libs/federated `stageScheduleOf` computes the two.
   */
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(100_000)
  scheduleStartEpoch?: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(100_000)
  scheduleTotalEpochs?: number;

  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(100_000)
  warmupEpochs?: number;

  /** Keep the optimiser's moments at the site between this run's rounds (site-local, never sent). */
  @IsOptional()
  @IsBoolean()
  keepOptimiserState?: boolean;

  /**
   * Fine-tune only: this task trains nothing; the site sets `head/token_center` to its training
   * patients' mean pooled feature under the global encoder and returns it with `nSamples` = its
   * patient count, so a sample-weighted average is the federation's mean (libs/federated
   * `combineTokenCentre`).
   */
  @IsOptional()
  @IsBoolean()
  tokenCentring?: boolean;

  /**
   * Fine-tune only: the cross-site matrix's local-only model (plan `evaluation.crossSiteModels:
   * local-only`). The site trains the sent model (the plan's initial model) on its own patients
   * alone for the whole fine-tune budget in this one task, centring the tokens on them first as
   * `train` does; the coordinator stores the update and never folds it into the global.
   */
  @IsOptional()
  @IsBoolean()
  localOnly?: boolean;

  /**
   * Protocol 1.4, with `localOnly` only, when the plan has an SSL stage: before fine-tuning, the
   * site pre-trains the sent model's encoder and decoder by FCMAE on its own images with this
   * recipe (the SSL stage's whole budget), then fine-tunes from that encoder as `localOnly` says
   * — `train --stage both` at one site. An agent before 1.4 is never sent such a task: it would
   * refuse the field, or train without the pre-training and pass the row off as the SSL arm's.
   */
  @IsOptional()
  @ValidateNested()
  @Type(() => LocalOnlySslDto)
  localOnlySsl?: LocalOnlySslDto;

  /**
   * Evaluate only: the cut-off at which the site reports sensitivity, specificity, PPV, NPV and
   * accuracy (e.g. the training sites' validation cut-off, transferred to an external site).
   * Absent: the site chooses it on its own validation split, if it has one.
   */
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(1)
  evaluationThreshold?: number;

  /**
   * Protocol 1.3, evaluate only: a paired evaluation. The site scores the task's model (A) and
   * each of these models (B) on the same labelled test patients and returns, beside A's usual
   * result, the DeLong aggregates of every pair (`EvalResultBody.paired`, in this order). The
   * payload is then a model bundle holding A and these models, each checked against its digest
   * (docs/PROTOCOL.md §4.2). An agent before 1.3 is never sent such a task.
   */
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_COMPARED_MODELS)
  @Matches(DIGEST_PATTERN, { each: true, message: '$property must hold SHA-512 digests in lowercase hex' })
  compareWith?: string[];

  /**
   * Protocol 1.2, training only: the round runs secure aggregation; the site never sends its
   * update in clear (docs/PROTOCOL.md §10). An agent before 1.2 is never sent such a task.
   */
  @IsOptional()
  @ValidateNested()
  @Type(() => SecureAggregationConfigDto)
  secureAggregation?: SecureAggregationConfigDto;
}

/**
 * Differential privacy at the site (docs/PRIVACY.md §4): the delta is clipped to L2 norm
 * `clipNorm`, N(0, (noiseMultiplier·clipNorm)²) is added to every value (0: the coordinator adds
 * the noise centrally), and with `reportUnclipped` the update's metrics carry `dp_unclipped`
 * (1 when the norm was within the clip) for adaptive clipping.
 */
export class TaskClipDto {
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(1e-9)
  @Max(1e6)
  clipNorm!: number;

  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(1e6)
  noiseMultiplier!: number;

  @IsBoolean()
  reportUnclipped!: boolean;
}

/** The optimiser a task's local training uses (the plan's stage optimiser). */
export class TaskOptimiserDto {
  @IsString()
  @Matches(OPTIMISER_NAME_PATTERN)
  name!: string;

  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(1)
  weightDecay?: number;
}

/**
 * What the strategy asks of this site (its configureFit / configureEvaluate answer), signed with
 * the task (protocol 1.1). Every field is optional: an absent one means the 1.0 behaviour.
 */
export class TaskInstructionDto {
  /** Training: the sub-networks to train and send back. Absent: the stage's (ssl: encoder + decoder; finetune: encoder + head). */
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(MODEL_PARTS.length)
  @IsIn(MODEL_PARTS, { each: true })
  parts?: ModelPart[];

  /** A JavaScript RegExp source (no flags): tensors that never leave the site (FedBN). Absent: none. */
  @IsOptional()
  @IsString()
  @MaxLength(500)
  keepLocalPattern?: string;

  /** Training: send full weights or the difference to the received global. Absent: `config.updateKind`. */
  @IsOptional()
  @IsIn(UPDATE_KINDS)
  updateKind?: UpdateKind;

  /** Training: the local optimiser. Absent: the agent's default. */
  @IsOptional()
  @ValidateNested()
  @Type(() => TaskOptimiserDto)
  optimiser?: TaskOptimiserDto;

  /** Training: FedProx μ. Absent: `config.proximalMu`. */
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(100)
  proximalMu?: number;

  /** Training: clip (and noise) the delta before it leaves (the plan's `privacy.dp`). Absent: no clipping. */
  @IsOptional()
  @ValidateNested()
  @Type(() => TaskClipDto)
  clip?: TaskClipDto;

  /**
   * Evaluation: release the score histogram with no bin under this many patients (k-anonymous,
   * bins merged on the 1/bins grid; `histogram.edges` says where). Absent: the fine histogram.
   */
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1000)
  minBinCount?: number;
}

/** coordinator → site, event `task`: do one stage of one round on the attached global weights. */
export class TaskBody extends RunScopedBody {
  /** SHA-512 of the global weights; equals the envelope's `digest` when they travel attached. */
  @IsDigest()
  globalWeightsDigest!: string;

  @ValidateNested()
  @Type(() => TaskConfigDto)
  config!: TaskConfigDto;

  /** Epoch ms after which the coordinator will no longer accept this task's update. */
  @IsInt()
  @Min(MIN_TIMESTAMP_MS)
  @Max(MAX_TIMESTAMP_MS)
  deadline!: number;

  /** Protocol 1.1: the strategy's instruction for this site; absent = 1.0 behaviour. */
  @IsOptional()
  @ValidateNested()
  @Type(() => TaskInstructionDto)
  instruction?: TaskInstructionDto;

  /**
   * The run's plan as the coordinator stored it (its canonical JSON parsed), so the site can show
   * it, hash it (SHA-256 of its canonical JSON is what a site approves) and refuse a plan it did
   * not approve before training anything (docs/PRIVACY.md §6). Signed with the task.
   */
  @IsOptional()
  @IsPlainRecord()
  plan?: Record<string, unknown>;
}

/** site → coordinator, event `task-ack`: the site took the task (or says why not). */
export class TaskAckBody extends RunScopedBody {
  @IsBoolean()
  accepted!: boolean;

  @IsOptional()
  @IsString()
  @MaxLength(500)
  reason?: string;

  /** A declined task: the site refused the run's plan, and why (libs/protocol consent.ts). */
  @IsOptional()
  @IsIn(CONSENT_REFUSAL_CODES)
  refusalCode?: ConsentRefusalCode;
}

/**
 * site → coordinator, event `update` (as a transfer): the header of a trained update. The weights
 * themselves are the envelope's payload; the envelope's `digest` and `payloadBytes` describe them.
 */
export class UpdateBody extends RunScopedBody {
  @IsInt()
  @Min(1)
  @Max(10_000_000)
  nSamples!: number;

  @IsMetricMap(64)
  metrics!: Record<string, number>;

  @IsIn(WEIGHT_ENCODINGS)
  encoding!: WeightEncoding;

  @IsIn(UPDATE_KINDS)
  kind!: UpdateKind;

  /** The global weights this update was trained from (deltas are relative to them). */
  @IsDigest()
  baseDigest!: string;
}

/**
 * Scores binned on [0, 1] per true class: enough for a pooled ROC. `bins` equal bins, or, with
 * `edges` (a private evaluation's k-anonymous histogram), `bins` intervals [edges[b], edges[b+1])
 * rising from 0 to 1, the last one closed.
 */
export class ScoreHistogramDto {
  @IsInt()
  @Min(1)
  @Max(10_000)
  bins!: number;

  @IsOptional()
  @IsArray()
  @ArrayMaxSize(10_001)
  @IsNumber({ allowNaN: false, allowInfinity: false }, { each: true })
  @Min(0, { each: true })
  @Max(1, { each: true })
  edges?: number[];

  @IsArray()
  @ArrayMaxSize(10_000)
  @IsInt({ each: true })
  @Min(0, { each: true })
  @Max(10_000_000, { each: true })
  positive!: number[];

  @IsArray()
  @ArrayMaxSize(10_000)
  @IsInt({ each: true })
  @Min(0, { each: true })
  @Max(10_000_000, { each: true })
  negative!: number[];
}

/**
 * Protocol 1.3: one pair of a paired evaluation at one site — the task's model (A) and a compared
 * model (B) scored on the same test patients: each AUC, each DeLong variance, their DeLong
 * covariance and the class counts (libs/metrics `delongPairedCovariance`). Seven aggregates, no
 * patient's score; the coordinator combines sites by inverse-variance fixed effect.
 */
export class PairedAucDto {
  /** SHA-512 of model B (one of the task's `compareWith`). */
  @IsDigest()
  modelDigest!: string;

  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(1)
  aucA!: number;

  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(1)
  aucB!: number;

  /** DeLong variances: an AUC's variance is at most 1/4. */
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(0.25)
  varA!: number;

  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(0.25)
  varB!: number;

  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(-0.25)
  @Max(0.25)
  covAB!: number;

  @IsInt()
  @Min(2)
  @Max(10_000_000)
  nPos!: number;

  @IsInt()
  @Min(2)
  @Max(10_000_000)
  nNeg!: number;
}

/**
 * site → coordinator, event `eval-result`: aggregate evaluation of one model at one site. Counts
 * and histograms only — never per-patient rows.
 */
export class EvalResultBody extends RunScopedBody implements CrossFieldCheck {
  /** SHA-512 of the weights that were evaluated. */
  @IsDigest()
  modelDigest!: string;

  @IsInt()
  @Min(0)
  @Max(10_000_000)
  nPositive!: number;

  @IsInt()
  @Min(0)
  @Max(10_000_000)
  nNegative!: number;

  /** Absent when a class is missing at this site (AUC undefined). */
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(1)
  auc?: number;

  @ValidateNested()
  @Type(() => ScoreHistogramDto)
  histogram!: ScoreHistogramDto;

  @IsOptional()
  @IsMetricMap(64)
  metrics?: Record<string, number>;

  /** Protocol 1.3, a paired evaluation's answer: one entry per `compareWith` model, in its order. */
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_COMPARED_MODELS)
  @ValidateNested({ each: true })
  @Type(() => PairedAucDto)
  paired?: PairedAucDto[];

  crossFieldProblem(): string | undefined {
    for (const [i, pair] of (this.paired ?? []).entries()) {
      // The pair was scored on the same test patients as the histogram.
      if (pair.nPos !== this.nPositive || pair.nNeg !== this.nNegative)
        return `paired[${i}]: nPos/nNeg must equal nPositive/nNegative`;
      if (pair.covAB ** 2 > pair.varA * pair.varB * (1 + 1e-9) + 1e-18)
        return `paired[${i}]: covAB² exceeds varA·varB (not a covariance)`;
    }
    const h = this.histogram;
    if (h.positive.length !== h.bins || h.negative.length !== h.bins) {
      return 'histogram.positive and histogram.negative must each have `bins` entries';
    }
    const edges = h.edges;
    if (edges) {
      if (edges.length !== h.bins + 1) return 'histogram.edges must have `bins` + 1 entries';
      if (edges[0] !== 0 || edges[h.bins] !== 1 || edges.some((e, i) => i > 0 && !(e > edges[i - 1])))
        return 'histogram.edges must rise strictly from 0 to 1';
    }
    if (sum(h.positive) !== this.nPositive) return 'histogram.positive does not sum to nPositive';
    if (sum(h.negative) !== this.nNegative) return 'histogram.negative does not sum to nNegative';
    return undefined;
  }
}

export const SITE_STATES = ['idle', 'training', 'evaluating', 'uploading', 'error'] as const;
export type SiteState = (typeof SITE_STATES)[number];

/** site → coordinator, event `status`: what the agent is doing (for the dashboard). */
export class StatusBody extends SignedBodyBase {
  @IsIn(SITE_STATES)
  state!: SiteState;

  @IsOptional()
  @IsProtocolId()
  runId?: string;

  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(100_000)
  round?: number;

  @IsOptional()
  @IsProtocolId()
  taskId?: string;

  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(1)
  progress?: number;

  @IsOptional()
  @IsString()
  @MaxLength(500)
  message?: string;
}

/** Either direction, event `error`: a refusal or failure the peer should know about. */
export class ErrorBody extends SignedBodyBase {
  @IsIn(PROTOCOL_ERROR_CODES)
  code!: ProtocolErrorCode;

  @IsString()
  @MaxLength(1000)
  reason!: string;

  /** The task id or nonce of the message this refers to, if any. */
  @IsOptional()
  @Matches(/^[A-Za-z0-9._-]{1,64}$/)
  ref?: string;
}

/**
 * coordinator → site, event `welcome`, right after the handshake: proves the coordinator holds its
 * key by signing the site's handshake nonce back (mutual authentication).
 */
export class WelcomeBody extends SignedBodyBase {
  @IsProtocolId()
  siteId!: string;

  @IsNonce()
  handshakeNonce!: string;
}

/**
 * Connection auth (socket.io `auth` object on connect to /sites), signed by the site; see
 * `handshakeSigningBytes` for the exact bytes.
 */
export class HandshakeAuthDto {
  @IsInt()
  @Min(PROTOCOL_VERSION)
  @Max(PROTOCOL_VERSION)
  v!: number;

  @IsProtocolId()
  siteId!: string;

  @IsInt()
  @Min(MIN_TIMESTAMP_MS)
  @Max(MAX_TIMESTAMP_MS)
  timestamp!: number;

  @IsNonce()
  nonce!: string;

  @Matches(SIGNATURE_PATTERN, { message: '$property must be a base64 Ed25519 signature' })
  signature!: string;
}

function sum(xs: number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s;
}
