import {
  EngineEvent,
  isLocalOnlyTraining,
  OpenTask,
  ReceivedUpdate,
  STAGE_PARTS,
  Strategy,
  TrainingStage,
  UpdateGate,
  uploadLayout,
} from '../../../../libs/federated/src';
import type { UpdateBody } from '../../../../libs/protocol/src';
import { decodeWeights } from '../../../../libs/weights/src';
import { GlobalModels } from './global-models';

/** What of an update's signed body the gate reads. */
export type AdmittedBody = Pick<UpdateBody, 'kind' | 'nSamples' | 'metrics'>;

/**
 * An authentic update's way into the engine: decoded once, run through its round attempt's
 * UpdateGate once, and turned into `update-received` or `update-refused`. The coordinator's
 * RoundIntake calls it after verifying the envelope; the in-process simulator calls it with the
 * bytes its sites produced, so both judge updates with the same code.
 */
export class UpdateAdmission {
  /** One gate per run: the one of its open attempt (`attemptKey`). */
  private readonly gates = new Map<string, { attemptKey: string; gate: UpdateGate }>();

  constructor(private readonly models: GlobalModels) {}

  async admit(
    siteId: string,
    task: OpenTask,
    strategy: Strategy,
    body: AdmittedBody,
    update: ReceivedUpdate & { payload: Uint8Array },
  ): Promise<EngineEvent> {
    const scope = { siteId, taskId: task.taskId, update };
    try {
      const arrays = decodeWeights(update.payload);
      const gate = await this.gateFor(task, strategy);
      const admission = gate.admit({
        siteId,
        kind: body.kind,
        numSamples: body.nSamples,
        arrays,
        metrics: body.metrics,
      });
      return admission.admitted
        ? { type: 'update-received', ...scope, entry: admission.entry }
        : {
            type: 'update-refused',
            ...scope,
            code: admission.rejection.code,
            reason: admission.rejection.reason,
          };
    } catch (err) {
      return { type: 'update-refused', ...scope, code: 'UNDECODABLE', reason: String(err) };
    }
  }

  /** The gate of the task's round attempt: the strategy's upload layout, against the model sent. */
  private async gateFor(task: OpenTask, strategy: Strategy): Promise<UpdateGate> {
    const current = this.gates.get(task.runId);
    if (current?.attemptKey === task.attemptKey) return current.gate;
    const model = await this.models.get(task.modelDigest);
    const gate = new UpdateGate({
      // A local-only model is the site's whole model: its kept-local tensors come too (schedule.ts).
      expectedLayout: isLocalOnlyTraining(task)
        ? uploadLayout(model.layout(), STAGE_PARTS.finetune, null)
        : strategy.uploadLayout(model.layout(), task.stage as TrainingStage),
      expectedKind: strategy.updateKind,
      global: strategy.updateKind === 'weights' ? model.arrays() : undefined,
    });
    // Two updates of one attempt may race here: the first gate made wins, so duplicates are seen.
    const raced = this.gates.get(task.runId);
    if (raced?.attemptKey === task.attemptKey) return raced.gate;
    this.gates.set(task.runId, { attemptKey: task.attemptKey, gate });
    return gate;
  }
}
