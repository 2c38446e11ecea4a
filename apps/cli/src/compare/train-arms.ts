import { join } from 'node:path';
import { Log, PhccError } from '../../../../libs/common/src';
import type { ModelConfig } from '../../../../libs/model/src/network/config';
import { PhccModel } from '../../../../libs/model/src/network/model';
import {
  keepLabelFraction,
  trainFinetune,
  trainSsl,
  type PatientSample,
} from '../../../../libs/model/src/training';
import { decodeWeights, type NamedArray } from '../../../../libs/weights/src';
import { ArmSpec } from './arms';
import { centralTrainOptions, CompareRecipe, federatedPlan } from './budget';

/** A hospital's loaded, normalised patients (its own training-split statistics, as `train` and the agent do). */
export interface CompareSite {
  site: string;
  dir: string;
  samples: readonly PatientSample[];
  /** External cohorts are only evaluated (every labelled patient), never trained on. */
  external: boolean;
}

export interface TrainArmContext {
  config: ModelConfig;
  recipe: CompareRecipe;
  /** The training sites (not the external ones). */
  sites: readonly CompareSite[];
  seed: number;
  /** Per-arm scratch folder (the simulator's coordinator store and site states). */
  workDir: string;
  log: Log;
  print: (line: string) => void;
}

/**
 * An arm's trained model: one set of weights (encoder + head, with the token centre) that every
 * site evaluates, or — FedBN — the shared weights with each training site's own normalisation
 * layers in place at that site (`bySite`). A site outside the federation (an external cohort)
 * has no normalisation layers of its own and evaluates the shared weights as the coordinator
 * holds them (their normalisation layers at the initial values FedBN never averages).
 */
export interface ArmModel {
  shared: NamedArray[];
  bySite?: ReadonlyMap<string, NamedArray[]>;
}

/** The weights the arm's model has at `site`. */
export function weightsAt(model: ArmModel, site: string): NamedArray[] {
  return model.bySite?.get(site) ?? model.shared;
}

/** Trains one arm and returns its final model. */
export async function trainArm(arm: ArmSpec, ctx: TrainArmContext): Promise<ArmModel> {
  if (arm.kind === 'federated') return trainFederated(arm, ctx);
  const sites = arm.kind === 'local' ? ctx.sites.filter((s) => s.site === arm.site) : ctx.sites;
  // Ids prefixed by site as `train` does, so pooled patients of two sites never collide.
  const patients = sites.flatMap((s) => s.samples.map((p) => ({ ...p, id: `${s.site}/${p.id}` })));
  return { shared: await trainPooled(arm.ssl, patients, ctx) };
}

/** What `train --stage both` (or `--no-ssl`) does, in process: SSL, then fine-tune from its encoder. */
async function trainPooled(
  ssl: boolean,
  patients: PatientSample[],
  ctx: TrainArmContext,
): Promise<NamedArray[]> {
  const options = centralTrainOptions(ctx.recipe, ctx.seed);
  let encoder: NamedArray[] | undefined;
  if (ssl) {
    const model = new PhccModel(ctx.config, ctx.seed);
    try {
      await trainSsl(model, patients, options.ssl);
      encoder = model.params.getWeights({ parts: ['encoder'] });
    } finally {
      model.dispose();
    }
  }
  const model = new PhccModel(ctx.config, ctx.seed);
  try {
    if (encoder) model.params.setWeights(encoder, { parts: ['encoder'] });
    await trainFinetune(model, patients, options.finetune);
    return model.params.getWeights({ parts: ['encoder', 'head'] });
  } finally {
    model.dispose();
  }
}

/** The federated arm: the plan of the budget rule through the production round engine, in process. */
async function trainFederated(arm: ArmSpec, ctx: TrainArmContext): Promise<ArmModel> {
  const { validatePlan } = await import('../../../coordinator/src/runs/run-plan');
  const { runSimulation } = await import('../simulate/simulation');
  const { InMemorySite } = await import('../simulate/in-memory-site');
  const { FileOptimiserStates, modelExecutors } = await import('../../../site-agent/src/executors');
  const { LocalParamStore, overlayLocal } = await import('../../../site-agent/src/local-params');
  const { initialWeights } = await import('../demo/initial-model');
  const raw = federatedPlan(ctx.recipe, {
    strategy: arm.strategy!,
    ssl: arm.ssl,
    seed: ctx.seed,
    sites: ctx.sites.length,
    config: ctx.config,
  });
  const plan = validatePlan(raw, `the ${arm.id} plan`);
  const stateDirOf = (site: string) => join(ctx.workDir, 'sites', site);
  const sites = ctx.sites.map((s) => {
    const stateDir = stateDirOf(s.site);
    const executors = modelExecutors({
      modelConfig: ctx.config,
      data: () => Promise.resolve(s.samples),
      log: ctx.log,
      optimiserStates: new FileOptimiserStates(stateDir),
    });
    return new InMemorySite(s.site, executors, stateDir, ctx.log);
  });
  const outcome = await runSimulation({
    plan,
    initialModel: await initialWeights(ctx.config, ctx.seed, { log: ctx.log }),
    sites,
    workDir: join(ctx.workDir, 'coordinator'),
    log: ctx.log,
    onRound: (r) => ctx.print(`    ${arm.id} ${r.stage} round ${r.round}: ${r.state}`),
  });
  try {
    if (outcome.state !== 'completed' || !outcome.finalDigest) {
      throw new PhccError(
        `the ${arm.id} arm's simulated run ended ${outcome.state}${outcome.reason ? `: ${outcome.reason}` : ''}`,
        'SIMULATION_RUN',
        1,
      );
    }
    const shared = decodeWeights(await outcome.blobs.get(outcome.finalDigest));
    if (arm.strategy !== 'fedbn') return { shared };
    // What each site's agent evaluates (site-work.ts): the global with its kept-local tensors.
    const bySite = new Map(
      ctx.sites.map((s) => [s.site, overlayLocal(shared, new LocalParamStore(stateDirOf(s.site)).load())]),
    );
    return { shared, bySite };
  } finally {
    await outcome.store.close();
  }
}

/** A site's scores of one arm's model on its patients (probabilities, patient order kept). */
export async function scoreArm(
  config: ModelConfig,
  weights: readonly NamedArray[],
  patients: readonly PatientSample[],
  batchSize: number,
): Promise<Float32Array> {
  const { predict } = await import('../../../../libs/model/src/training');
  const model = new PhccModel(config, 0);
  try {
    model.params.setWeights([...weights], { parts: ['encoder', 'head'], strict: true });
    return await predict(model, [...patients], batchSize);
  } finally {
    model.dispose();
  }
}

/**
 * `--labelled-fraction F`: the site's training patients keep a stratified share F of their labels
 * (`keepLabelFraction`: by id hash, so every arm and seed sees the same labelled patients); the
 * others stay as unlabelled SSL patients, and the validation and test splits are untouched.
 */
export function withLabelledFraction(site: CompareSite, fraction: number): CompareSite {
  const train = site.samples.filter((p) => p.split === 'train');
  const kept = new Map(keepLabelFraction(train, fraction).samples.map((p) => [p.id, p]));
  return { ...site, samples: site.samples.map((p) => kept.get(p.id) ?? p) };
}
