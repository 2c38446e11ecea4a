import { createHash } from 'node:crypto';
import type { Strategy } from '../../../../libs/federated/src';
import type { Stage, TaskConfigDto } from '../../../../libs/protocol/src';
import { RunPlanDto } from '../runs/dto/run-plan.dto';

/**
 * Pure helpers that turn a run plan into the sequence of rounds and the per-task settings.
 * Kept apart from the service so that "which rounds does this plan run, with what config" can be
 * read and tested without a server.
 */

export interface RoundStep {
  stage: Stage;
  round: number;
}

/** Every round of a run, in order: SSL rounds, fine-tune rounds, then one final evaluation. */
export function runSteps(plan: RunPlanDto): RoundStep[] {
  const steps: RoundStep[] = [];
  for (let r = 0; r < (plan.stages.ssl?.rounds ?? 0); r++) steps.push({ stage: 'ssl', round: r });
  for (let r = 0; r < (plan.stages.finetune?.rounds ?? 0); r++) steps.push({ stage: 'finetune', round: r });
  if (plan.evaluation.final) steps.push({ stage: 'evaluate', round: 0 });
  return steps;
}

/**
 * A task id that is unique per (run, stage, round, attempt, site), fits the protocol's id
 * pattern whatever the site id's length, and still tells a reader the stage and round.
 */
export function taskIdFor(runId: string, step: RoundStep, attempt: number, siteId: string): string {
  const hash = createHash('sha256')
    .update(`${runId}\n${step.stage}\n${step.round}\n${attempt}\n${siteId}`)
    .digest('hex');
  return `${step.stage}-${step.round}-${attempt}-${hash.slice(0, 20)}`;
}

/**
 * A task's config. The evaluation stage trains nothing; it still carries valid numbers (the
 * protocol requires them) taken from the fine-tune stage when there is one.
 */
export function taskConfig(
  plan: RunPlanDto,
  step: RoundStep,
  strategy: Strategy,
  maxUpdateBytes: number,
): TaskConfigDto {
  const stage = step.stage === 'ssl' ? plan.stages.ssl : (plan.stages.finetune ?? plan.stages.ssl);
  const mu = Number(strategy.parameters.proximalMu ?? 0);
  const config: TaskConfigDto = {
    localEpochs: stage?.localEpochs ?? 1,
    learningRate: stage?.optimiser.lr ?? 1e-3,
    batchSize: stage?.batchSize ?? 1,
    seed: roundSeed(plan.seed, step),
    updateEncoding: plan.encoding,
    updateKind: strategy.updateKind,
    maxUpdateBytes,
  };
  if (mu > 0) config.proximalMu = mu;
  if (step.stage === 'ssl' && plan.stages.ssl) config.maskRatio = plan.stages.ssl.maskRatio;
  return config;
}

/** A per-round seed derived from the run's seed, so sites shuffle differently every round but reproducibly. */
export function roundSeed(seed: number, step: RoundStep): number {
  const hash = createHash('sha256').update(`${seed}\n${step.stage}\n${step.round}`).digest();
  return hash.readUInt32BE(0);
}
