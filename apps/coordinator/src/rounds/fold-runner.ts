import type { EngineEvent, RequestCommand, Strategy, TrainingStage } from '../../../../libs/federated/src';
import {
  EncodedUpdateSource,
  foldTokenCentres,
  InMemoryUpdateSource,
  SecAggSessions,
  UpdateSource,
} from '../../../../libs/federated/src';
import { decodeWeights, encodeWeights } from '../../../../libs/weights/src';
import { summariseEvaluation } from '../evaluation/evaluation-results';
import { pairedMetrics } from '../evaluation/paired-results';
import { rebuildLocalModels } from '../evaluation/local-models';
import { BlobStore } from '../models/blob-store';
import { CoordinatorStore } from '../persistence/repositories';
import { GlobalModels } from './global-models';
import { StrategyStateKeeper } from './strategy-state';

type Aggregate = Extract<RequestCommand, { kind: 'aggregate' }>;
/** The one update a secure fold reads (the unmasked mean) is filed under this name. */
const SECURE_SUM_ID = 'secure-aggregate';
/** A strategy fold's or the token-centring round's command: a global and the round's updates. */
type FoldUpdates = Exclude<Aggregate, { what: 'evaluate' }>;

/**
 * The slow, I/O-bound work the engine asks for and waits on: the fold (the strategy's
 * aggregateFit reading updates from the blob store), pooling an evaluation round into results,
 * restoring a strategy's server state, rebuilding local models for the cross-site matrix. Each
 * returns the event that answers the request; a failure is an answer too.
 */
export class FoldRunner {
  constructor(
    private readonly store: CoordinatorStore,
    private readonly blobs: BlobStore,
    private readonly models: GlobalModels,
    private readonly strategyStates: StrategyStateKeeper,
    /** Secure aggregation: the sessions whose unmasked sums replace the stored updates. */
    private readonly secure: SecAggSessions = new SecAggSessions(),
  ) {}

  async aggregate(command: Aggregate, strategy: Strategy): Promise<EngineEvent> {
    try {
      if (command.what === 'evaluate') return await this.aggregateEvaluation(command);
      return command.what === 'token-centre'
        ? await this.aggregateTokenCentres(command, strategy)
        : await this.aggregateFit(command, strategy);
    } catch (err) {
      return { type: 'aggregation-failed', reason: err instanceof Error ? err.message : String(err) };
    }
  }

  /** Folds the round's surviving updates with the strategy, in site-id order, into a new global. */
  private async aggregateFit(command: FoldUpdates, strategy: Strategy): Promise<EngineEvent> {
    const { runId, step } = command;
    const global = await this.models.get(command.globalDigest);
    const { source, secureSites } = this.sourceOf(command, strategy);
    const folded = await strategy.aggregateFit(step.round, {
      stage: step.stage as TrainingStage,
      globalLayout: global.layout(),
      updates: source,
      // A fresh copy: the strategy overwrites the arrays it is given, the cached bytes stay intact.
      loadGlobal: async () => decodeWeights(Buffer.from(global.bytes)),
    });
    // A secure fold read one mean update in place of the survivors': the round is theirs.
    const result = secureSites
      ? {
          ...folded,
          sites: secureSites.sites,
          metrics: {
            ...folded.metrics,
            num_sites: secureSites.sites.length,
            num_samples: secureSites.samples,
          },
        }
      : folded;
    const { digest, bytes } = await this.blobs.put(encodeWeights(result.weights, 'float32'));
    await this.strategyStates.save(runId, step, strategy);
    return {
      type: 'aggregation-finished',
      outputDigest: digest,
      outputBytes: bytes,
      sites: result.sites,
      metrics: result.metrics,
    };
  }

  /**
   * The token-centring round: the global with its centre set to the sites' centres averaged by
   * sample count (libs/federated `foldTokenCentres`). No strategy runs and no strategy state is
   * saved: FedAdam would move the centre by a step, and its moments are not this round's.
   */
  private async aggregateTokenCentres(command: FoldUpdates, strategy: Strategy): Promise<EngineEvent> {
    const global = await this.models.get(command.globalDigest);
    const { source, secureSites } = this.sourceOf(command, strategy);
    const centred = await foldTokenCentres(decodeWeights(Buffer.from(global.bytes)), source);
    const folded = secureSites
      ? { ...centred, sites: secureSites.sites, patients: secureSites.samples }
      : centred;
    const { digest, bytes } = await this.blobs.put(encodeWeights(folded.weights, 'float32'));
    return {
      type: 'aggregation-finished',
      outputDigest: digest,
      outputBytes: bytes,
      sites: folded.sites,
      // The names a strategy fold records, so the rounds read alike: sites in it, patients behind it.
      metrics: { num_sites: folded.sites.length, num_samples: folded.patients },
    };
  }

  /**
   * What the fold reads: the round's admitted updates from the blob store, or, in a secure round,
   * one update — the survivors' sample-weighted mean, unmasked from the session's sum — whose
   * weight is their total, so that every strategy folds exactly what it would have folded.
   */
  private sourceOf(
    command: FoldUpdates,
    strategy: Strategy,
  ): { source: UpdateSource; secureSites?: { sites: string[]; samples: number } } {
    if (!command.secure) return { source: this.updatesOf(command) };
    const result = this.secure.finish(command.secure.sessionId);
    const entry = {
      siteId: SECURE_SUM_ID,
      kind: strategy.updateKind,
      numSamples: result.samples,
      deltaNorm: 0,
      metrics: {},
    };
    return {
      source: new InMemoryUpdateSource([entry], [[SECURE_SUM_ID, result.mean]]),
      secureSites: { sites: result.survivors, samples: result.samples },
    };
  }

  /** The round's admitted updates, decoded from the blob store on read. */
  private updatesOf(command: FoldUpdates): EncodedUpdateSource {
    const digestOf = new Map(command.updates.map((u) => [u.siteId, u.digest]));
    return new EncodedUpdateSource(command.updates, (siteId) => this.blobs.get(digestOf.get(siteId)!));
  }

  /**
   * Pools the sites' histograms into the run's results; the model is unchanged. A cross-site round
   * (a site's local model) stores its row of the matrix and needs no pooled AUC.
   */
  private async aggregateEvaluation(command: Extract<Aggregate, { what: 'evaluate' }>): Promise<EngineEvent> {
    const { runId, step, modelDigest, modelOf } = command;
    // A paired round stores the pairs' aggregates only: model A's own evaluation is the final one.
    if (command.compareWith) return this.aggregatePaired(command, command.compareWith);
    const summary = summariseEvaluation(
      runId,
      modelDigest,
      new Map(Object.entries(command.results)),
      new Date().toISOString(),
      modelOf === 'global'
        ? { round: step.round, modelOf: 'global' }
        : { round: step.round, modelOf: modelOf.siteId, finetuneRound: modelOf.finetuneRound },
    );
    for (const evaluation of summary.evaluations) await this.store.evaluations.insert(evaluation);
    if (summary.metrics.length > 0) await this.store.metrics.insertMany(summary.metrics);
    if (summary.problem)
      return { type: 'aggregation-failed', reason: `pooled AUC not computable: ${summary.problem}` };
    return {
      type: 'aggregation-finished',
      outputDigest: modelDigest,
      outputBytes: (await this.blobs.size(modelDigest)) ?? 0,
    };
  }

  /** The paired round's per-site aggregates, stored once the combination is known to be computable. */
  private async aggregatePaired(
    command: Extract<Aggregate, { what: 'evaluate' }>,
    compareWith: readonly string[],
  ): Promise<EngineEvent> {
    let metrics;
    try {
      metrics = pairedMetrics(
        command.runId,
        new Map(Object.entries(command.results)),
        compareWith,
        new Date().toISOString(),
      );
    } catch (err) {
      return {
        type: 'aggregation-failed',
        reason: `paired comparison not computable: ${err instanceof Error ? err.message : String(err)}`,
      };
    }
    await this.store.metrics.insertMany(metrics);
    return {
      type: 'aggregation-finished',
      outputDigest: command.modelDigest,
      outputBytes: (await this.blobs.size(command.modelDigest)) ?? 0,
    };
  }

  async restoreStrategy(
    command: Extract<RequestCommand, { kind: 'restore-strategy' }>,
    strategy: Strategy,
  ): Promise<EngineEvent> {
    try {
      await this.strategyStates.restore(command.runId, command.lastDone, strategy);
      return { type: 'strategy-restored' };
    } catch (err) {
      return { type: 'strategy-restore-failed', reason: err instanceof Error ? err.message : String(err) };
    }
  }

  async buildLocalModels(
    command: Extract<RequestCommand, { kind: 'build-local-models' }>,
    strategy: Strategy,
  ): Promise<EngineEvent> {
    try {
      const models = await rebuildLocalModels(
        this.store,
        this.blobs,
        command.runId,
        command.finetuneRounds,
        strategy.updateKind,
        command.localOnlyRound,
      );
      const built = [];
      for (const m of models) built.push({ ...m, bytes: (await this.blobs.size(m.digest)) ?? 0 });
      return { type: 'local-models-built', models: built };
    } catch (err) {
      return { type: 'local-models-failed', reason: err instanceof Error ? err.message : String(err) };
    }
  }
}
