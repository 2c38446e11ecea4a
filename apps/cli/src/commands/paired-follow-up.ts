import { InputError } from '../../../../libs/common/src';
import type { RunPlanDto } from '../../../coordinator/src/runs/dto/run-plan.dto';

/**
 * A paired evaluation asked for after a run has finished (`phcc-fed admin runs pair`): an
 * evaluation-only run (no stages) whose initial model is the finished run's final global and whose
 * `evaluation.compareWith` names the models to compare it with. It runs the same paired round
 * (protocol 1.3) the original plan would have run at its end, so it is an ordinary plan the
 * coordinator checks, stores and audits like any other — no new route, no new wire.
 */

const DIGEST = /^[0-9a-f]{128}$/;

/** Checked before the final model is looked up: a running run's last aggregate is not final. */
export function requireCompleted(run: { id: string; state: string }): void {
  if (run.state !== 'completed')
    throw new InputError(`run ${run.id} is ${run.state}: a paired evaluation needs a completed run`);
}

/**
 * The follow-up plan. Kept from the finished run: what decides who evaluates and how a site
 * scores — sites, quorum, deadlines, retries, encoding, seed, network config, phases, strategy
 * (FedBN's site-local layers), the decision threshold and the privacy settings of evaluation. Left
 * out: the stages (nothing is trained) and DP noise, which applies to training updates only.
 * The evaluation batch size a site scores with is the fine-tune stage's (capped at 8), and a plan
 * without stages has none, so it is carried as `evaluation.batchSize`.
 */
export function pairedFollowUpPlan(
  finished: { id: string; state: string; plan: RunPlanDto },
  finalModel: string,
  compareWith: readonly string[],
): RunPlanDto {
  requireCompleted(finished);
  if (!compareWith.length) throw new InputError('--with: name at least one model digest to compare with');
  for (const digest of compareWith)
    if (!DIGEST.test(digest))
      throw new InputError(
        `--with ${digest.slice(0, 20)}: not a SHA-512 digest in lowercase hex (128 characters)`,
      );
  if (compareWith.includes(finalModel))
    throw new InputError(
      `--with ${finalModel.slice(0, 16)}…: that is run ${finished.id}'s final model itself`,
    );
  if (new Set(compareWith).size !== compareWith.length)
    throw new InputError('--with: a digest is named twice');
  const plan = finished.plan;
  const { dp: _dp, ...privacy } = plan.privacy ?? {};
  const batchSize =
    plan.evaluation.batchSize ?? plan.stages.finetune?.batchSize ?? plan.stages.ssl?.batchSize;
  return {
    name: `paired evaluation of run ${finished.id}`,
    stages: {},
    strategy: plan.strategy,
    quorum: plan.quorum,
    roundDeadlineSeconds: plan.roundDeadlineSeconds,
    ...(plan.maxRetries !== undefined ? { maxRetries: plan.maxRetries } : {}),
    encoding: plan.encoding,
    evaluation: {
      final: false,
      compareWith: [...compareWith],
      ...(plan.evaluation.threshold !== undefined ? { threshold: plan.evaluation.threshold } : {}),
      ...(batchSize !== undefined ? { batchSize } : {}),
    },
    ...(plan.sites !== undefined ? { sites: plan.sites } : {}),
    initialModel: finalModel,
    ...(plan.model !== undefined ? { model: plan.model } : {}),
    ...(plan.phases !== undefined ? { phases: plan.phases } : {}),
    seed: plan.seed,
    ...(plan.privacy ? { privacy: privacy as RunPlanDto['privacy'] } : {}),
  } as RunPlanDto;
}
