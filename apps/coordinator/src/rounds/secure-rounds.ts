import { Log } from '../../../../libs/common/src';
import {
  directoryToWire,
  EngineEvent,
  inboxToWire,
  SecAggCloseCommand,
  SecAggOutgoing,
  SecAggSessions,
  Strategy,
  TaskToSend,
  TrainingStage,
  unmaskRequestToWire,
} from '../../../../libs/federated/src';
import { AnySocket, newNonce, readAck, signEnvelope, socketIoTransport } from '../../../../libs/protocol/src';
import { GlobalModels } from './global-models';

/** How long the coordinator waits for a site to acknowledge a SecAgg message it sent. */
const SECAGG_ACK_MS = 15_000;

/**
 * The coordinator's side of secure aggregation around the engine (docs/PRIVACY.md §3): opens an
 * attempt's `SecAggServer` session when its tasks go out, closes a step when the engine asks
 * (`secagg-close`) and sends every member of the next step its signed message. The engine decides
 * *when*; the sessions do the arithmetic; the intake admits the sites' messages into them.
 */
export class SecureRounds {
  readonly sessions = new SecAggSessions();

  constructor(
    private readonly socketOf: (siteId: string) => AnySocket | undefined,
    private readonly coordinatorSecretKey: () => Uint8Array,
    private readonly models: GlobalModels,
    private readonly log: Log,
  ) {}

  /** Before a secure task is sent: its attempt's session exists, over the stage's upload layout. */
  async prepare(task: TaskToSend, strategy: Strategy): Promise<void> {
    const settings = task.config.secureAggregation;
    if (!settings || this.sessions.has(settings.sessionId)) return;
    const global = await this.models.get(task.globalWeightsDigest);
    this.sessions.open(settings, strategy.uploadLayout(global.layout(), task.stage as TrainingStage));
  }

  /**
   * Closes the step in the session and answers the engine *before* sending the next step's
   * messages, so that no site's reply can arrive while the engine still thinks the step is opening.
   */
  close(command: SecAggCloseCommand, answer: (event: EngineEvent) => void): void {
    let outgoing: SecAggOutgoing[];
    try {
      outgoing = this.sessions.close(command.sessionId, command.closing);
    } catch (err) {
      this.sessions.discard(command.sessionId);
      answer({
        type: 'secagg-closed',
        sessionId: command.sessionId,
        step: command.closing,
        ok: false,
        reason: err instanceof Error ? err.message : String(err),
      });
      return;
    }
    answer({ type: 'secagg-closed', sessionId: command.sessionId, step: command.closing, ok: true });
    for (const message of outgoing) void this.send(command, message);
  }

  /** Signs one site's message of the next step, scoped to its task, and sends it. */
  private async send(command: SecAggCloseCommand, message: SecAggOutgoing): Promise<void> {
    const siteId = message.to;
    const scope = {
      sender: 'coordinator',
      nonce: newNonce(),
      timestamp: Date.now(),
      runId: command.runId,
      round: command.step.round,
      stage: command.step.stage,
      taskId: command.taskIds[siteId],
      sessionId: command.sessionId,
    };
    const secretKey = this.coordinatorSecretKey();
    const envelope =
      message.next === 'shares'
        ? signEnvelope({
            type: 'secagg-directory',
            signer: 'coordinator',
            secretKey,
            body: { ...scope, ...directoryToWire(message.directory) },
          })
        : message.next === 'masked'
          ? signEnvelope({
              type: 'secagg-inbox',
              signer: 'coordinator',
              secretKey,
              body: { ...scope, ...inboxToWire(message.inbox) },
            })
          : signEnvelope({
              type: 'secagg-unmask-request',
              signer: 'coordinator',
              secretKey,
              body: { ...scope, ...unmaskRequestToWire(message.request) },
            });
    const socket = this.socketOf(siteId);
    try {
      if (!socket || !scope.taskId) throw new Error('not connected');
      const ack = readAck(await socketIoTransport(socket).request(envelope.type, envelope, SECAGG_ACK_MS));
      if (!ack.ok) throw new Error(`${ack.error.code}: ${ack.error.reason}`);
    } catch (err) {
      // The site will not answer this step: the engine drops it at the step's deadline or grace.
      this.log.warn(
        { site: siteId, step: message.next, reason: err instanceof Error ? err.message : String(err) },
        'secure aggregation message not delivered',
      );
    }
  }
}
