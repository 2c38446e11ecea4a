import type { Log } from '../../../../libs/common/src';
import type { TaskBody } from '../../../../libs/protocol/src';
import type { ExecutorSet } from '../../../site-agent/src/executor';
import { LocalParamStore } from '../../../site-agent/src/local-params';
import {
  executeTask,
  outgoingUpdate,
  releasedEvaluation,
  secureOutgoing,
  taskModels,
} from '../../../site-agent/src/site-work';
import { followInstruction } from '../../../site-agent/src/task-instruction';
import { ConsentGate } from '../../../site-agent/src/consent/gate';
import { SiteAnswer, SimulatedSite } from './simulation';

/**
 * A hospital of the simulation: its real executors and its own kept-local store, doing exactly
 * what `phcc-fed agent` does with a verified task (follow the signed instruction, restore kept-
 * local tensors, execute, filter and encode the update) minus the socket and the signatures.
 */
export class InMemorySite implements SimulatedSite {
  private readonly localParams: LocalParamStore;
  /** Update payload bytes this site produced. */
  bytesSent = 0;
  /** The agent's consent check; the simulation approves its own plan (`approvePlan`). */
  private readonly consent = new ConsentGate({});

  constructor(
    readonly siteId: string,
    private readonly executors: ExecutorSet,
    stateDir: string,
    private readonly log?: Log,
  ) {
    this.localParams = new LocalParamStore(stateDir);
  }

  approvePlan(digest: string): void {
    this.consent.approve(digest);
  }

  async run(task: TaskBody, model: Uint8Array): Promise<SiteAnswer> {
    const decision = await this.consent.check(task.plan);
    if (!decision.approved) return { kind: 'declined', reason: decision.reason, refusalCode: decision.code };
    const followed = followInstruction(task, null);
    if (!followed.ok) return { kind: 'declined', reason: `${followed.error.code}: ${followed.error.reason}` };
    const { global, compared } = taskModels(task, model);
    this.log?.info({ siteId: this.siteId, taskId: task.taskId, stage: task.stage }, 'simulated site: task');
    const result = await executeTask(
      this.executors,
      this.localParams,
      task,
      followed.value,
      global,
      {
        signal: new AbortController().signal,
        progress: () => undefined,
      },
      compared,
    );
    if (result.kind === 'train' && task.config.secureAggregation) {
      // The agent's secure path: the same filtered, weighted, clipped input (site-work.ts).
      const outgoing = secureOutgoing(this.siteId, task, followed.value, global, result, this.localParams);
      this.bytesSent += outgoing.input.length * Math.ceil(task.config.secureAggregation.ringBits / 8);
      return { kind: 'secure', outgoing, metrics: result.metrics };
    }
    if (result.kind === 'train') {
      const update = outgoingUpdate(task, followed.value, global, result, this.localParams);
      this.bytesSent += update.payload.length;
      return {
        kind: 'update',
        payload: update.payload,
        body: {
          kind: update.kind,
          nSamples: result.nSamples,
          metrics: update.metrics,
          encoding: task.config.updateEncoding,
        },
      };
    }
    return {
      kind: 'evaluation',
      result: {
        runId: task.runId,
        round: task.round,
        taskId: task.taskId,
        stage: task.stage,
        modelDigest: task.globalWeightsDigest,
        ...releasedEvaluation(followed.value, result),
      },
    };
  }
}
