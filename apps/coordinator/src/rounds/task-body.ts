import type { TaskToSend } from '../../../../libs/federated/src';
import { newNonce, TaskBody } from '../../../../libs/protocol/src';

/**
 * The body of the task the engine decided to send, as the coordinator signs it: the engine's
 * TaskToSend plus the sender, a fresh nonce and the time. The dispatcher signs it for a socket;
 * the in-process simulator hands it to its sites as it is.
 */
export function taskBodyOf(task: TaskToSend, now: number): TaskBody {
  return {
    sender: 'coordinator',
    nonce: newNonce(),
    timestamp: now,
    runId: task.runId,
    round: task.round,
    taskId: task.taskId,
    stage: task.stage,
    globalWeightsDigest: task.globalWeightsDigest,
    config: task.config,
    deadline: task.deadline,
    instruction: task.instruction,
    ...(task.plan ? { plan: task.plan } : {}),
  };
}
