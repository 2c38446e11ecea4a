import { PhccError } from '../../../../libs/common/src';
import type { Strategy } from '../../../../libs/federated/src';
import { decodeWeights, encodeWeights } from '../../../../libs/weights/src';
import { BlobStore } from '../models/blob-store';
import { CoordinatorStore } from '../persistence/repositories';
import type { RoundStep } from '../../../../libs/federated/src';

/**
 * Keeps a strategy's server state (FedAdam's m, v and step) with its run, so that a coordinator
 * killed mid-run resumes with the state it had after the last finished training round. Without
 * it a resumed FedAdam run restarts its moments from zero and silently differs from the same run
 * uninterrupted.
 *
 * The state is saved after every aggregation under that round's key, before the round is marked
 * done; it is restored from the last *done* training round, so a state saved by a round that
 * then crashed is never used (the round runs again and replaces it).
 */
export class StrategyStateKeeper {
  constructor(
    private readonly store: CoordinatorStore,
    private readonly blobs: BlobStore,
  ) {}

  /** After `step`'s aggregation. Stateless strategies (FedAvg, FedProx, FedBN) write nothing. */
  async save(runId: string, step: RoundStep, strategy: Strategy): Promise<void> {
    const state = strategy.exportState();
    if (state.length === 0) return;
    // float32 as exported: the codec round-trips it bit for bit.
    const { digest } = await this.blobs.put(encodeWeights(state, 'float32'));
    await this.store.strategyStates.put({
      runId,
      stage: step.stage,
      round: step.round,
      strategy: strategy.name,
      stateDigest: digest,
      tensors: state.length,
      recordedAt: new Date().toISOString(),
    });
  }

  /**
   * Before the first training round a (re)started driver runs, with `lastDone` the last training
   * round already done. Refuses to go on without the state a stateful strategy needs.
   */
  async restore(runId: string, lastDone: RoundStep, strategy: Strategy): Promise<void> {
    if (strategy.exportState().length === 0) return;
    const saved = await this.store.strategyStates.get(runId, lastDone.stage, lastDone.round);
    const where = `${lastDone.stage} round ${lastDone.round}`;
    if (!saved) {
      throw new PhccError(
        `no saved ${strategy.name} server state after ${where}: resuming without it would silently differ from the uninterrupted run`,
        'STRATEGY_STATE_MISSING',
      );
    }
    if (saved.strategy !== strategy.name) {
      throw new PhccError(
        `the server state saved after ${where} is ${saved.strategy}'s, the run uses ${strategy.name}`,
        'STRATEGY_STATE_MISMATCH',
      );
    }
    strategy.importState(decodeWeights(await this.blobs.get(saved.stateDigest)));
  }
}
