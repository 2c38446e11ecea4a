import { Log } from '../../../../libs/common/src';
import type { EngineEvent, TaskToSend } from '../../../../libs/federated/src';
import { AnySocket, sendTransfer, signEnvelope, socketIoTransport } from '../../../../libs/protocol/src';
import { GlobalModels } from './global-models';
import { taskBodyOf } from './task-body';

/** Sent tasks wait this long for the site's transfer acks before the site is dropped from the round. */
export const DISPATCH_STALL_MS = 15_000;

/**
 * Signs a task the engine decided to send and sends it, with its model attached, over the site's
 * connection (chunked transfer, docs/PROTOCOL.md §6); answers task-delivered or task-failed.
 */
export class TaskDispatcher {
  constructor(
    private readonly socketOf: (siteId: string) => AnySocket | undefined,
    private readonly coordinatorSecretKey: () => Uint8Array,
    private readonly models: GlobalModels,
    private readonly log: Log,
    private readonly stallTimeoutMs = DISPATCH_STALL_MS,
  ) {}

  async send(siteId: string, task: TaskToSend): Promise<EngineEvent> {
    try {
      const socket = this.socketOf(siteId);
      if (!socket) throw new Error('not connected');
      const model = await this.models.get(task.globalWeightsDigest);
      const body = taskBodyOf(task, Date.now());
      const envelope = signEnvelope({
        type: 'task',
        signer: 'coordinator',
        secretKey: this.coordinatorSecretKey(),
        // The model's digest is its blob name: sign it as known instead of hashing it per site.
        payloadFacts: { digest: model.digest, bytes: model.bytes.length },
        body: { ...body },
      });
      await sendTransfer(socketIoTransport(socket), envelope, model.bytes, {
        stallTimeoutMs: this.stallTimeoutMs,
        log: this.log,
      });
      return { type: 'task-delivered', siteId, taskId: task.taskId };
    } catch (err) {
      return {
        type: 'task-failed',
        siteId,
        taskId: task.taskId,
        reason: err instanceof Error ? err.message : String(err),
      };
    }
  }
}
