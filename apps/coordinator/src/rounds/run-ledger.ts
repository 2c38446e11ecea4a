import { Log } from '../../../../libs/common/src';
import type { RecordCommand } from '../../../../libs/federated/src';
import { AuditService } from '../audit/audit.service';
import { BlobStore } from '../models/blob-store';
import { CoordinatorStore } from '../persistence/repositories';
import { RUN_TRANSITIONS } from '../runs/run-state';

/**
 * Carries out the engine's record commands against the CoordinatorStore, the blob store and the
 * audit log, one at a time in the order given: the only place the round engine's decisions become
 * rows. Keeps the update ids it inserted, so later commands can name an update by its task.
 */
export class RunLedger {
  private readonly updateIds = new Map<string, number>();

  constructor(
    private readonly store: CoordinatorStore,
    private readonly blobs: BlobStore,
    private readonly audit: Pick<AuditService, 'record' | 'recordRefusal'>,
    private readonly log: Log,
  ) {}

  async record(command: RecordCommand): Promise<void> {
    switch (command.kind) {
      case 'insert-round':
        return this.store.rounds.insert(command.round);
      case 'update-round':
        return this.store.rounds.update(command.runId, command.stage, command.round, command.changes);
      case 'insert-task':
        return this.store.tasks.insert(command.task);
      case 'set-task-state':
        return this.store.tasks.setState(command.taskId, command.state);
      case 'store-update': {
        // The digest was verified against these bytes on arrival: stored under it, not re-hashed.
        if (command.payload) await this.blobs.putVerified(command.update.digest, command.payload);
        const id = await this.store.updates.insert(command.update);
        this.updateIds.set(command.update.taskId, id);
        return;
      }
      case 'set-update-status': {
        const id = this.updateIds.get(command.taskId);
        if (id === undefined) throw new Error(`no update stored for task ${command.taskId}`);
        return this.store.updates.setStatus(id, command.status, command.reason);
      }
      case 'record-metrics':
        if (command.metrics.length > 0) await this.store.metrics.insertMany(command.metrics);
        return;
      case 'audit': {
        const { refusal, ...entry } = command.entry;
        if (refusal) await this.audit.recordRefusal(entry);
        else await this.audit.record(entry);
        return;
      }
      case 'log':
        this.log[command.level](command.fields, command.message);
        return;
      case 'end-run':
        return this.endRun(command.runId, command.outcome, command.reason, command.finalDigest);
    }
  }

  /** Moves the run to completed/failed (unless someone else moved it first) and audits it. */
  async endRun(
    runId: string,
    action: 'complete' | 'fail',
    reason?: string,
    finalDigest?: string,
  ): Promise<void> {
    const { from, to } = RUN_TRANSITIONS[action];
    const moved = await this.store.runs.transition(runId, from, to, {
      endedAt: new Date().toISOString(),
      reason,
    });
    if (!moved) return;
    this.log.info({ run: runId, state: to, reason }, `run ${to}`);
    await this.audit.record({
      actor: 'coordinator',
      action: `runs.${action}`,
      target: runId,
      outcome: action === 'complete' ? 'ok' : 'error',
      detail: { ...(reason ? { reason } : {}), ...(finalDigest ? { finalModel: finalDigest } : {}) },
    });
  }
}
