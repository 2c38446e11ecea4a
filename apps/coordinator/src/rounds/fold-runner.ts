import type { EngineEvent, RequestCommand, Strategy, TrainingStage } from '../../../../libs/federated/src';
import { EncodedUpdateSource, foldTokenCentres } from '../../../../libs/federated/src';
import { decodeWeights, encodeWeights } from '../../../../libs/weights/src';
import { summariseEvaluation } from '../evaluation/evaluation-results';
import { rebuildLocalModels } from '../evaluation/local-models';
import { BlobStore } from '../models/blob-store';
import { CoordinatorStore } from '../persistence/repositories';
import { GlobalModels } from './global-models';
import { StrategyStateKeeper } from './strategy-state';

type Aggregate = Extract<RequestCommand, { kind: 'aggregate' }>;
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
  ) {}

  async aggregate(command: Aggregate, strategy: Strategy): Promise<EngineEvent> {
    try {
      if (command.what === 'evaluate') return await this.aggregateEvaluation(command);
      return command.what === 'token-centre'
        ? await this.aggregateTokenCentres(command)
        : await this.aggregateFit(command, strategy);
    } catch (err) {
      return { type: 'aggregation-failed', reason: err instanceof Error ? err.message : String(err) };
    }
  }

  /** Folds the round's surviving updates with the strategy, in site-id order, into a new global. */
  private async aggregateFit(command: FoldUpdates, strategy: Strategy): Promise<EngineEvent> {
    const { runId, step } = command;
    const global = await this.models.get(command.globalDigest);
    const result = await strategy.aggregateFit(step.round, {
      stage: step.stage as TrainingStage,
      globalLayout: global.layout(),
      updates: this.updatesOf(command),
      // A fresh copy: the strategy overwrites the arrays it is given, the cached bytes stay intact.
      loadGlobal: async () => decodeWeights(Buffer.from(global.bytes)),
    });
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
  private async aggregateTokenCentres(command: FoldUpdates): Promise<EngineEvent> {
    const global = await this.models.get(command.globalDigest);
    const folded = await foldTokenCentres(decodeWeights(Buffer.from(global.bytes)), this.updatesOf(command));
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
      );
      const built = [];
      for (const m of models) built.push({ ...m, bytes: (await this.blobs.size(m.digest)) ?? 0 });
      return { type: 'local-models-built', models: built };
    } catch (err) {
      return { type: 'local-models-failed', reason: err instanceof Error ? err.message : String(err) };
    }
  }
}
