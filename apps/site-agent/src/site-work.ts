import {
  applyOutgoing,
  encodeSecureInput,
  NoiseSource,
  SecAggSite,
  secAggConfigOf,
  secureNormalNoise,
  siteOutgoingFilters,
  SiteMetrics,
  uploadLayout,
} from '../../../libs/federated/src';
import { kAnonymousHistogram } from '../../../libs/metrics/src/private-histogram';
import { decodeModelBundle } from '../../../libs/protocol/src';
import type { EvalResultBody, TaskBody, UpdateKind } from '../../../libs/protocol/src';
import { decodeWeights, encodeWeights, layoutOf, NamedArray } from '../../../libs/weights/src';
import { EvalResult, ExecutionContext, ExecutorSet, TaskResult, TrainResult } from './executor';
import { LocalParamStore, overlayLocal } from './local-params';
import { FollowedInstruction } from './task-instruction';

/**
 * A task's work at the site, with no transport: the kept-local tensors put back, the stage's
 * executor run, and a training result turned into the update bytes that leave the site. The
 * agent wraps it in signed messages over its socket; the in-process simulator calls it directly,
 * so both send exactly the same bytes for the same task.
 */
export async function executeTask(
  executors: ExecutorSet,
  localParams: LocalParamStore,
  task: TaskBody,
  instruction: FollowedInstruction,
  global: NamedArray[],
  ctx: ExecutionContext,
  compared: readonly NamedArray[][] = [],
): Promise<TaskResult> {
  const executor = executors[task.stage];
  if (!executor) throw new Error(`no executor for ${task.stage}`);
  const input = instruction.keepLocal ? overlayLocal(global, localParams.load()) : global;
  // A compared model (a central or another run's model) is scored as it came: the site's kept-
  // local tensors (FedBN) belong to this run's global, not to it.
  return executor.execute(task, input, ctx, compared);
}

/** The models a task carries: its own (the global), and a paired evaluation's compared ones. */
export interface TaskModels {
  global: NamedArray[];
  compared: NamedArray[][];
  /** The digest of the task's own model: what the evaluation result names as `modelDigest`. */
  digest: string;
}

/**
 * Decodes a verified task's payload. A paired evaluation (protocol 1.3, `compareWith`) carries a
 * model bundle: every model in it is checked against the digest the signed task names for it
 * before it is decoded. Throws a one-line error naming the problem.
 */
export function taskModels(task: TaskBody, payload: Uint8Array, maxBytes?: number): TaskModels {
  const options = maxBytes === undefined ? {} : { maxBytes };
  const compareWith = task.config.compareWith;
  if (!compareWith)
    return { global: decodeWeights(payload, options), compared: [], digest: task.globalWeightsDigest };
  if (task.stage !== 'evaluate')
    throw new Error(`compareWith in a ${task.stage} task: only evaluations compare models`);
  const [own, ...others] = decodeModelBundle(payload, [task.globalWeightsDigest, ...compareWith]);
  return {
    global: decodeWeights(own, options),
    compared: others.map((m) => decodeWeights(m, options)),
    digest: task.globalWeightsDigest,
  };
}

/** An update ready to sign: its encoded bytes, what it is, and the shapes the site promises. */
export interface OutgoingUpdate {
  payload: Buffer;
  kind: UpdateKind;
  /** The metrics that travel with it (the training metrics, plus `dp_unclipped` when asked). */
  metrics: SiteMetrics;
  /** Every tensor the coordinator expects in this stage's upload, by name (the transfer checks it). */
  shapes: Record<string, number[]>;
}

/**
 * What leaves the site after training: the kept-local tensors are saved (they never leave), the
 * outgoing filters (libs/federated `siteOutgoingFilters`: select → delta → clip + noise →
 * quantise → [mask]) applied, and the result encoded. `noise` is the OS CSPRNG unless a test
 * passes a seeded source.
 */
export function outgoingUpdate(
  task: TaskBody,
  instruction: FollowedInstruction,
  global: readonly NamedArray[],
  result: TrainResult,
  localParams: LocalParamStore,
  noise: NoiseSource = secureNormalNoise(),
): OutgoingUpdate {
  const { arrays, kind, metrics, expected } = filteredUpdate(
    task,
    instruction,
    global,
    result,
    localParams,
    noise,
  );
  return {
    payload: encodeWeights(arrays, task.config.updateEncoding),
    kind,
    metrics,
    shapes: Object.fromEntries(expected.map((t) => [t.name, [...t.shape]])),
  };
}

/** A secure round's update, ready for the SecAgg steps: its state machine and its masked-to-be input. */
export interface SecureOutgoing {
  site: SecAggSite;
  /** The filtered update in the round's layout order (what a clear round would have sent). */
  update: NamedArray[];
  /** The encoded weighted input (never sent: only its masked form leaves the site). */
  input: Float64Array;
  /** Values clipped to the round's ±maxAbs (weighted), reported in the site's log. */
  clipped: number;
  weight: number;
}

/**
 * What leaves the site in a secure-aggregation round (protocol 1.2): the same filtered update as
 * `outgoingUpdate`, in the upload layout's order, weighted, clipped to the round's range and
 * fixed-point encoded, held by a fresh `SecAggSite` for this session. Nothing of it is sent in
 * clear: the agent (or the simulator) carries it through the four SecAgg steps.
 */
export function secureOutgoing(
  siteId: string,
  task: TaskBody,
  instruction: FollowedInstruction,
  global: readonly NamedArray[],
  result: TrainResult,
  localParams: LocalParamStore,
  noise: NoiseSource = secureNormalNoise(),
): SecureOutgoing {
  const settings = task.config.secureAggregation;
  if (!settings) throw new Error('the task does not run secure aggregation');
  // DP's clip + noise (instruction.clip) run inside the filters, before the encoding and the mask.
  const { arrays, expected } = filteredUpdate(task, instruction, global, result, localParams, noise);
  const byName = new Map(arrays.map((a) => [a.name, a]));
  const ordered = expected.map((t) => {
    const a = byName.get(t.name);
    if (!a) throw new Error(`the update lacks ${t.name}, which the round's layout expects`);
    return a;
  });
  const { input, clipped, weight } = encodeSecureInput(ordered, result.nSamples, settings);
  return {
    site: new SecAggSite(siteId, secAggConfigOf(settings, expected)),
    update: ordered,
    input,
    clipped,
    weight,
  };
}

/** The kept-local tensors saved, the outgoing filters applied, and the stage's upload layout. */
function filteredUpdate(
  task: TaskBody,
  instruction: FollowedInstruction,
  global: readonly NamedArray[],
  result: TrainResult,
  localParams: LocalParamStore,
  noise: NoiseSource,
) {
  if (task.stage === 'evaluate') throw new Error('an evaluate task produced weights');
  const { parts, keepLocal, updateKind, clip } = instruction;
  if (keepLocal) localParams.save(result.weights.filter((a) => keepLocal.test(a.name)));
  const filters = siteOutgoingFilters({
    instruction: { parts: [...parts], keepLocalPattern: keepLocal ? keepLocal.source : null, updateKind },
    global: [...global],
    encoding: task.config.updateEncoding,
    ...(clip ? { clip: { ...clip, rng: noise } } : {}),
  });
  const outgoing = applyOutgoing(
    { kind: 'weights', numSamples: result.nSamples, arrays: result.weights, metrics: result.metrics },
    filters,
  );
  return {
    arrays: outgoing.arrays,
    kind: outgoing.kind,
    metrics: outgoing.metrics,
    expected: uploadLayout(layoutOf([...global]), parts, keepLocal),
  };
}

/** An evaluation as it leaves the site: the `eval-result` body's counts, AUC, histogram and metrics. */
export type ReleasedEvaluation = Pick<
  EvalResultBody,
  'nPositive' | 'nNegative' | 'auc' | 'histogram' | 'metrics' | 'paired'
>;

/**
 * What of an evaluation leaves the site. Without private evaluation: everything the executor
 * computed. With `minBinCount` k (docs/PRIVACY.md §5): only the counts and the k-anonymous
 * histogram (adjacent fine bins merged until each holds ≥ k patients, edges on the fine grid);
 * the exact AUC, its CI and the metrics at a cut-off stay home, since they are computed from
 * per-patient scores at finer resolution than any released bin (a cut-off's 2×2 table can hold
 * cells under k). The coordinator computes AUC and CI from the released bins, with their error
 * bound. The agent's message log records the body exactly as sent.
 */
export function releasedEvaluation(instruction: FollowedInstruction, result: EvalResult): ReleasedEvaluation {
  const { nPositive, nNegative } = result;
  const k = instruction.minBinCount;
  // A paired evaluation's aggregates are what the plan (approved by the site) asks for: seven
  // numbers over the whole test split, not a cell of patients. Under k-anonymity they leave only
  // when each class has at least k patients, as a released histogram bin must (docs/PRIVACY.md §5).
  if (result.paired && k !== null && (nPositive < k || nNegative < k))
    throw new Error(
      `paired evaluation: ${nPositive} positive / ${nNegative} negative test patients, fewer than the plan's minBinCount ${k} in a class; the pair's aggregates are not released`,
    );
  const paired = result.paired ? { paired: result.paired.map((p) => ({ ...p })) } : {};
  if (k === null) {
    return {
      nPositive,
      nNegative,
      ...(result.auc !== undefined ? { auc: result.auc } : {}),
      histogram: result.histogram,
      ...(result.metrics ? { metrics: result.metrics } : {}),
      ...paired,
    };
  }
  const h = result.histogram;
  const released = kAnonymousHistogram({ bins: h.bins, pos: h.positive, neg: h.negative }, k);
  return {
    nPositive,
    nNegative,
    histogram: {
      bins: released.pos.length,
      edges: released.edges,
      positive: released.pos,
      negative: released.neg,
    },
    ...paired,
  };
}
