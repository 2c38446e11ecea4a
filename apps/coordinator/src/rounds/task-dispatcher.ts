import { Log } from '../../../../libs/common/src';
import type { EngineEvent, TaskToSend } from '../../../../libs/federated/src';
import {
  AnySocket,
  LOCAL_ONLY_SSL_MINOR_VERSION,
  newNonce,
  PAIRED_EVALUATION_MINOR_VERSION,
  SECURE_AGGREGATION_MINOR_VERSION,
  sendTransfer,
  signEnvelope,
  socketIoTransport,
  taskForMinorVersion,
} from '../../../../libs/protocol/src';
import { GlobalModels } from './global-models';
import { taskBodyOf } from './task-body';
import { taskPayload } from './task-payload';

/** A site's live connection as the dispatcher needs it: where to send, and what the agent reads. */
export interface SiteLink {
  socket: AnySocket;
  /** The protocol minor version the agent stated when it connected (0 = 1.0). */
  protocolMinor: number;
}

/** Sent tasks wait this long for the site's transfer acks before the site is dropped from the round. */
export const DISPATCH_STALL_MS = 15_000;

/**
 * Signs a task the engine decided to send and sends it, with its model attached, over the site's
 * connection (chunked transfer, docs/PROTOCOL.md §6); answers task-delivered or task-failed.
 */
export class TaskDispatcher {
  constructor(
    private readonly linkOf: (siteId: string) => SiteLink | undefined,
    private readonly coordinatorSecretKey: () => Uint8Array,
    private readonly models: GlobalModels,
    private readonly log: Log,
    private readonly stallTimeoutMs = DISPATCH_STALL_MS,
    /** Counts the model bytes sent (the coordinator's metrics); none in tests. */
    private readonly sent: (bytes: number) => void = () => undefined,
  ) {}

  async send(siteId: string, task: TaskToSend): Promise<EngineEvent> {
    try {
      const link = this.linkOf(siteId);
      if (!link) throw new Error('not connected');
      const { socket, protocolMinor } = link;
      const payload = await taskPayload(task, this.models);
      // What this agent's protocol version can read: a 1.0 agent gets the task as 1.0 sent it.
      const body = taskForMinorVersion(taskBodyOf(task, Date.now()), protocolMinor);
      if (!body) {
        const reason = task.config.secureAggregation
          ? `this round runs secure aggregation, which needs protocol 1.${SECURE_AGGREGATION_MINOR_VERSION}; the agent speaks 1.${protocolMinor}: upgrade it (it is never asked for a clear update instead)`
          : task.config.compareWith
            ? `this round is a paired evaluation, which needs protocol 1.${PAIRED_EVALUATION_MINOR_VERSION}; the agent speaks 1.${protocolMinor}: upgrade it (it is never asked for an unpaired result instead)`
            : task.config.localOnlySsl
              ? `this round trains a local-only model with its own SSL pre-training, which needs protocol 1.${LOCAL_ONLY_SSL_MINOR_VERSION}; the agent speaks 1.${protocolMinor}: upgrade it (it is never asked for a local-only model without SSL instead)`
              : `the agent speaks protocol 1.${protocolMinor}, which cannot carry this task: upgrade it`;
        const versioned =
          task.config.secureAggregation || task.config.compareWith || task.config.localOnlySsl;
        // Told by code (not awaited: an old agent may not answer), so the site's operator sees
        // why it sits this round out.
        if (versioned) {
          void socketIoTransport(socket)
            .request(
              'error',
              signEnvelope({
                type: 'error',
                signer: 'coordinator',
                secretKey: this.coordinatorSecretKey(),
                body: {
                  sender: 'coordinator',
                  nonce: newNonce(),
                  timestamp: Date.now(),
                  code: 'UNSUPPORTED_VERSION',
                  reason: reason.slice(0, 1000),
                  ref: task.taskId,
                },
              }),
              5_000,
            )
            .catch(() => undefined);
        }
        throw new Error(versioned ? `UNSUPPORTED_VERSION: ${reason}` : reason);
      }
      const envelope = signEnvelope({
        type: 'task',
        signer: 'coordinator',
        secretKey: this.coordinatorSecretKey(),
        // A model's digest is its blob name: sign it as known instead of hashing it per site (a
        // paired task's bundle is hashed).
        ...(payload.knownDigest
          ? { payloadFacts: { digest: payload.knownDigest, bytes: payload.bytes.length } }
          : { payload: payload.bytes }),
        body: { ...body },
      });
      await sendTransfer(socketIoTransport(socket), envelope, payload.bytes, {
        stallTimeoutMs: this.stallTimeoutMs,
        log: this.log,
      });
      this.sent(payload.bytes.length);
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
