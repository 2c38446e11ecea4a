import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Log, packageRoot, packageVersion } from '../../../../libs/common/src';
import type { ModelConfig } from '../../../../libs/model/src/network/config';
import type { PatientSample } from '../../../../libs/model/src/training/types';
import { ArmSelection, armId, pairsToScore, planArms, planComparisons } from './arms';
import { CompareRecipe } from './budget';
import { armCutOffs, trainingPrevalence } from './cut-offs';
import { ArmCutOffAt, armResult, resolveComparisons, siteAggregates, SiteAggregates } from './evaluation';
import { CompareReport, SeedResult, summariseSeeds } from './report';
import { ArmModel, CompareSite, FederationPairing, scoreArm, trainArm, weightsAt } from './train-arms';

export interface CompareRun {
  config: ModelConfig;
  recipe: CompareRecipe;
  selection: Omit<ArmSelection, 'sites'>;
  training: CompareSite[];
  external: CompareSite[];
  seeds: number[];
  /** Scratch folder of the simulator runs (removed afterwards). */
  workDir: string;
  /** Reported verbatim as the configuration (the command line's choices). */
  configuration: Record<string, unknown>;
  log: Log;
  print: (line: string) => void;
  started: number;
}

/** Trains every arm for every seed, evaluates them site by site and assembles the report. */
export async function runCompare(run: CompareRun): Promise<CompareReport> {
  const arms = planArms({ ...run.selection, sites: run.training.map((s) => s.site) });
  const planned = planComparisons(arms);
  const pairs = pairsToScore(planned);
  const evalSites = [...run.training, ...run.external];
  const perSeed: SeedResult[] = [];
  for (const seed of run.seeds) {
    run.print(`seed ${seed}`);
    const models = new Map<string, ArmModel>();
    const train_seconds: Record<string, number> = {};
    for (const arm of arms) {
      const t0 = Date.now();
      run.print(`  training ${arm.id}…`);
      const workDir = join(run.workDir, `seed-${seed}`, arm.id);
      rmSync(workDir, { recursive: true, force: true });
      mkdirSync(workDir, { recursive: true, mode: 0o700 });
      // planArms trains the central arm of an SSL setting before its federated arms: each of them
      // ends with the paired round against it (federated − central computed by the sites).
      const central = arm.kind === 'federated' ? armId('central', arm.ssl) : undefined;
      const compareWith =
        central && models.has(central) ? { arm: central, model: models.get(central)! } : undefined;
      models.set(
        arm.id,
        await trainArm(arm, {
          config: run.config,
          recipe: run.recipe,
          sites: run.training,
          seed,
          workDir,
          log: run.log,
          print: run.print,
          ...(compareWith ? { compareWith } : {}),
        }),
      );
      train_seconds[arm.id] = Math.round((Date.now() - t0) / 100) / 10;
      run.print(`  ${arm.id}: ${train_seconds[arm.id]} s`);
    }
    // Each arm's operating point at each site, fixed on validation patients before any test score.
    const prevalence = new Map(arms.map((a) => [a.id, trainingPrevalence(a, run.training)]));
    const cutOffs = new Map<string, Map<string, ArmCutOffAt>>(evalSites.map((s) => [s.site, new Map()]));
    for (const arm of arms) {
      const bySite = await armCutOffs(
        arm,
        models.get(arm.id)!,
        run.training,
        evalSites,
        (weights, patients) => scoreArm(run.config, weights, patients, run.recipe.finetune.batchSize),
      );
      for (const [site, cutOff] of bySite)
        cutOffs.get(site)!.set(arm.id, { cutOff, trainingPrevalence: prevalence.get(arm.id)! });
    }
    const aggregates: SiteAggregates[] = [];
    for (const site of evalSites) {
      const patients = evaluationPatients(site);
      const labels = patients.map((p) => p.label as number);
      const scores = new Map<string, Float32Array>();
      for (const arm of arms) {
        scores.set(
          arm.id,
          await scoreArm(
            run.config,
            weightsAt(models.get(arm.id)!, site.site),
            patients,
            run.recipe.finetune.batchSize,
          ),
        );
      }
      aggregates.push(
        siteAggregates(site.site, site.external, labels, scores, pairs, cutOffs.get(site.site)),
      );
    }
    const armResults = arms.map((a) => armResult(a.name, a.ssl, aggregates, prevalence.get(a.id)!));
    perSeed.push({
      seed,
      arms: armResults,
      comparisons: resolveComparisons(
        planned,
        armResults,
        aggregates,
        run.external.length > 0,
        pairingsOf(models),
      ),
      train_seconds,
    });
  }
  const { arms: armSummaries, comparisons } = summariseSeeds(perSeed);
  return {
    configuration: run.configuration,
    seeds: run.seeds,
    versions: versions(),
    wall_s: Math.round((Date.now() - run.started) / 100) / 10,
    arms: armSummaries,
    comparisons,
    per_seed: perSeed,
  };
}

/** The federated arms' paired rounds, by arm id. */
function pairingsOf(models: ReadonlyMap<string, ArmModel>): Map<string, FederationPairing> {
  return new Map([...models].flatMap(([id, m]) => (m.paired ? [[id, m.paired] as const] : [])));
}

/** Internal sites: the labelled test split; external cohorts: every labelled patient. */
export function evaluationPatients(site: CompareSite): PatientSample[] {
  return site.samples.filter(
    (p) => (p.label === 0 || p.label === 1) && (site.external || p.split === 'test'),
  );
}

/** Versions that decide the numbers: this package, Node and the TensorFlow.js packages. */
function versions(): Record<string, string> {
  const out: Record<string, string> = { 'phcc-fed': packageVersion(), node: process.version };
  for (const name of [
    '@tensorflow/tfjs-core',
    '@tensorflow/tfjs-backend-wasm',
    '@tensorflow/tfjs-backend-cpu',
  ]) {
    const file = join(packageRoot(), 'node_modules', name, 'package.json');
    if (existsSync(file)) out[name] = (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  }
  return out;
}
