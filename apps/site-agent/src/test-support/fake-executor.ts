import { NamedArray } from '../../../../libs/weights/src';
import { Stage, TaskBody } from '../../../../libs/protocol/src';
import { ExecutionContext, TaskExecutor, TaskResult } from '../executor';

/**
 * Executor for tests without tfjs: "training" adds `step` to every weight (so the expected delta
 * is known exactly); evaluation returns fixed aggregates. Records what it was given.
 */
export class FakeExecutor implements TaskExecutor {
  readonly calls: { task: TaskBody; global: NamedArray[]; compared: readonly NamedArray[][] }[] = [];

  constructor(
    readonly stage: Stage,
    private readonly step = 0.5,
    /** Simulated training time (lets a test drop the connection mid-task). */
    private readonly delayMs = 0,
  ) {}

  async execute(
    task: TaskBody,
    global: NamedArray[],
    ctx: ExecutionContext,
    compared: readonly NamedArray[][] = [],
  ): Promise<TaskResult> {
    this.calls.push({ task, global, compared });
    ctx.progress(0.5, 'half way');
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    if (this.stage === 'evaluate') {
      return {
        kind: 'evaluate',
        nPositive: 3,
        nNegative: 2,
        auc: 0.75,
        histogram: { bins: 4, positive: [0, 1, 0, 2], negative: [1, 1, 0, 0] },
        // A paired evaluation: fixed aggregates per compared model, named by the task's digests.
        ...(compared.length
          ? {
              paired: (task.config.compareWith ?? []).map((modelDigest, i) => ({
                modelDigest,
                aucA: 0.75,
                aucB: 0.5 + 0.1 * i,
                varA: 0.02,
                varB: 0.03,
                covAB: 0.01,
                nPos: 3,
                nNeg: 2,
              })),
            }
          : {}),
      };
    }
    const weights = global.map((a) => ({
      name: a.name,
      shape: [...a.shape],
      values: a.values.map((v) => v + this.step),
    }));
    ctx.progress(1);
    return { kind: 'train', weights, nSamples: 5, metrics: { loss: 0.25 } };
  }
}
