import {
  applyOutgoing,
  encodeSecureInput,
  SecAggSite,
  secAggConfigOf,
  siteOutgoingFilters,
  uploadLayout,
} from '../../../libs/federated/src';
import type { TaskBody, UpdateKind } from '../../../libs/protocol/src';
import { encodeWeights, layoutOf, NamedArray } from '../../../libs/weights/src';
import { ExecutionContext, ExecutorSet, TaskResult, TrainResult } from './executor';
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
): Promise<TaskResult> {
  const executor = executors[task.stage];
  if (!executor) throw new Error(`no executor for ${task.stage}`);
  const input = instruction.keepLocal ? overlayLocal(global, localParams.load()) : global;
  return executor.execute(task, input, ctx);
}

/** An update ready to sign: its encoded bytes, what it is, and the shapes the site promises. */
export interface OutgoingUpdate {
  payload: Buffer;
  kind: UpdateKind;
  /** Every tensor the coordinator expects in this stage's upload, by name (the transfer checks it). */
  shapes: Record<string, number[]>;
}

/**
 * What leaves the site after training: the kept-local tensors are saved (they never leave), the
 * outgoing filters (parts, keep-local, delta, quantise) applied, and the result encoded.
 */
export function outgoingUpdate(
  task: TaskBody,
  instruction: FollowedInstruction,
  global: readonly NamedArray[],
  result: TrainResult,
  localParams: LocalParamStore,
): OutgoingUpdate {
  const { arrays, kind, expected } = filteredUpdate(task, instruction, global, result, localParams);
  return {
    payload: encodeWeights(arrays, task.config.updateEncoding),
    kind,
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
): SecureOutgoing {
  const settings = task.config.secureAggregation;
  if (!settings) throw new Error('the task does not run secure aggregation');
  const { arrays, expected } = filteredUpdate(task, instruction, global, result, localParams);
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
) {
  if (task.stage === 'evaluate') throw new Error('an evaluate task produced weights');
  const { parts, keepLocal, updateKind } = instruction;
  if (keepLocal) localParams.save(result.weights.filter((a) => keepLocal.test(a.name)));
  const filters = siteOutgoingFilters({
    instruction: { parts: [...parts], keepLocalPattern: keepLocal ? keepLocal.source : null, updateKind },
    global: [...global],
    encoding: task.config.updateEncoding,
  });
  const outgoing = applyOutgoing(
    { kind: 'weights', numSamples: result.nSamples, arrays: result.weights, metrics: result.metrics },
    filters,
  );
  return {
    arrays: outgoing.arrays,
    kind: outgoing.kind,
    expected: uploadLayout(layoutOf([...global]), parts, keepLocal),
  };
}
