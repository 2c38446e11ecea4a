import { applyOutgoing, siteOutgoingFilters, uploadLayout } from '../../../libs/federated/src';
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
  const payload = encodeWeights(outgoing.arrays, task.config.updateEncoding);
  const expected = uploadLayout(layoutOf([...global]), parts, keepLocal);
  return {
    payload,
    kind: outgoing.kind,
    shapes: Object.fromEntries(expected.map((t) => [t.name, [...t.shape]])),
  };
}
