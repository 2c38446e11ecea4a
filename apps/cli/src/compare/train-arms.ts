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
import type { SitePairedAuc } from '../../../../libs/metrics/src';
import { decodeWeights, encodeWeights, type NamedArray } from '../../../../libs/weights/src';
import type { SimulationOutcome } from '../simulate/simulation';
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
  /**
   * A federated arm's run ends with the paired evaluation round (protocol 1.3) against this arm's
   * model — the central arm of the same SSL setting — so that the sites, not compare, compute the
   * federated − central aggregates, exactly as a real federation would.
   */
  compareWith?: { arm: string; model: ArmModel };
}

/**
 * The paired round of a federated arm: each training site's DeLong aggregates of (the arm's final
 * global at that site, the compared arm's model), as the coordinator stored them. When the round
 * failed (a site without two cases and two controls declines, or zero variance everywhere) there
 * are none, and `failed` says why.
 */
export interface FederationPairing {
  /** The compared arm's id. */
  against: string;
  sites: SitePairedAuc[];
  failed?: string;
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
  /** A federated arm trained with `compareWith`: its paired round's aggregates. */
  paired?: FederationPairing;
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
    // Encoded as the coordinator stores a model (`simulate --compare-with` does the same).
    ...(ctx.compareWith ? { compareModels: [encodeWeights(ctx.compareWith.model.shared, 'float32')] } : {}),
    sites,
    workDir: join(ctx.workDir, 'coordinator'),
    log: ctx.log,
    onRound: (r) => ctx.print(`    ${arm.id} ${r.stage} round ${r.round}: ${r.state}`),
  });
  try {
    const { finalDigest, paired } = await finalOf(arm, outcome, ctx.compareWith?.arm);
    const shared = decodeWeights(await outcome.blobs.get(finalDigest));
    const withPaired = paired ? { paired } : {};
    if (arm.strategy !== 'fedbn') return { shared, ...withPaired };
    // What each site's agent evaluates (site-work.ts): the global with its kept-local tensors.
    const bySite = new Map(
      ctx.sites.map((s) => [s.site, overlayLocal(shared, new LocalParamStore(stateDirOf(s.site)).load())]),
    );
    return { shared, bySite, ...withPaired };
  } finally {
    await outcome.store.close();
  }
}

/**
 * The federated run's final global and, when it was compared, its paired round's aggregates. A
 * run whose training completed but whose paired round failed still has its final global (the
 * round's input): the arm is kept and the pairing says why it has no aggregates; any other
 * failure ends the comparison.
 */
async function finalOf(
  arm: ArmSpec,
  outcome: SimulationOutcome,
  against: string | undefined,
): Promise<{ finalDigest: string; paired?: FederationPairing }> {
  const { PAIRED_EVALUATION_ROUND } = await import('../../../../libs/federated/src');
  const { storedSitePairs } = await import('../../../coordinator/src/evaluation/paired-results');
  const rounds = await outcome.store.rounds.listForRun(outcome.runId);
  const pairedRound = rounds.find((r) => r.stage === 'evaluate' && r.round === PAIRED_EVALUATION_ROUND);
  if (outcome.state === 'completed' && outcome.finalDigest) {
    if (against === undefined) return { finalDigest: outcome.finalDigest };
    const sites = storedSitePairs(await outcome.store.metrics.listForRun(outcome.runId), 0);
    return { finalDigest: outcome.finalDigest, paired: { against, sites } };
  }
  if (against !== undefined && pairedRound?.state === 'failed' && pairedRound.inputDigest) {
    const failed = pairedRound.reason ?? outcome.reason ?? 'the paired evaluation round failed';
    return { finalDigest: pairedRound.inputDigest, paired: { against, sites: [], failed } };
  }
  throw new PhccError(
    `the ${arm.id} arm's simulated run ended ${outcome.state}${outcome.reason ? `: ${outcome.reason}` : ''}`,
    'SIMULATION_RUN',
    1,
  );
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
