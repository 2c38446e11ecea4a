import type { TaskToSend } from '../../../../libs/federated/src';
import { encodeModelBundle } from '../../../../libs/protocol/src';
import { GlobalModels } from './global-models';

/** What travels attached to a task, and whether its digest is already known (a stored blob). */
export interface TaskPayload {
  bytes: Uint8Array;
  /** The payload is the model's blob: its digest is its name, no need to hash it per site. */
  knownDigest?: string;
}

/**
 * A task's attachment: the model it names, or for a paired evaluation (protocol 1.3,
 * `compareWith`) a model bundle of that model and the compared ones, in the task's order, each
 * checked by the site against its digest. The dispatcher and the simulator both call this, so a
 * simulated site receives exactly the bytes an agent would.
 */
export async function taskPayload(task: TaskToSend, models: GlobalModels): Promise<TaskPayload> {
  const own = await models.get(task.globalWeightsDigest);
  const compareWith = task.config.compareWith;
  if (!compareWith) return { bytes: own.bytes, knownDigest: own.digest };
  const compared = [];
  for (const digest of compareWith) compared.push((await models.get(digest)).bytes);
  return { bytes: encodeModelBundle([own.bytes, ...compared]) };
}
