import { PhccError } from '../../../../libs/common/src';
import {
  compareIds,
  LocalModelRef,
  localModelFrom,
  NamedArray,
  UpdateKind,
  VAL_THRESHOLD_METRIC,
} from '../../../../libs/federated/src';
import { decodeWeights, encodeWeights } from '../../../../libs/weights/src';
import { BlobStore } from '../models/blob-store';
import { UpdateRecord } from '../persistence/records';
import { CoordinatorStore } from '../persistence/repositories';

/** A site's reconstructed local model, stored in the blob store under `digest`. */
export interface StoredLocalModel extends LocalModelRef {
  digest: string;
}

/**
 * Each site's last local fine-tuned model, for the cross-site matrix, rebuilt from what the
 * coordinator already holds: the site's last *aggregated* fine-tune update (it passed every
 * check; a rejected one is not the federation's business) applied to the global that round
 * started from (`rounds.input_digest`). Sites never upload a second copy of their model.
 *
 * Deterministic: the same database gives the same models (and digests), so a coordinator that
 * restarts during the cross-site rounds resumes them on identical models. What the coordinator
 * cannot know stays as in the global: tensors kept on site (FedBN's normalisation layers; the
 * evaluating site's agent puts its own in their place) and parts the fine-tune stage does not
 * train (the decoder).
 *
 * With `localOnlyRound` (plan `evaluation.crossSiteModels: local-only`) each site's model is
 * instead the update it sent in that round — trained on its data alone from the plan's initial
 * model, stored as accepted and never folded — applied to that round's input model.
 */
export async function rebuildLocalModels(
  store: CoordinatorStore,
  blobs: BlobStore,
  runId: string,
  finetuneRounds: number,
  updateKind: UpdateKind,
  localOnlyRound?: number,
): Promise<StoredLocalModel[]> {
  const latest = new Map<string, { finetuneRound: number; update: UpdateRecord }>();
  // Local-only updates are never folded: 'accepted' is their final status (a refused one is 'rejected').
  const [rounds, status] =
    localOnlyRound === undefined
      ? [Array.from({ length: finetuneRounds }, (_, r) => r), 'aggregated']
      : [[localOnlyRound], 'accepted'];
  for (const round of rounds) {
    // Ordered by id: a round re-run after a restart has its later updates last, and they win.
    for (const update of await store.updates.listForRound(runId, 'finetune', round)) {
      if (update.status === status) latest.set(update.siteId, { finetuneRound: round, update });
    }
  }
  const thresholds = await validationThresholds(store, runId);
  const models: StoredLocalModel[] = [];
  let base: { digest: string; arrays: NamedArray[] } | undefined;
  for (const siteId of [...latest.keys()].sort(compareIds)) {
    const { finetuneRound, update } = latest.get(siteId)!;
    const inputDigest = (await store.rounds.get(runId, 'finetune', finetuneRound))?.inputDigest;
    if (!inputDigest) {
      throw new PhccError(
        `fine-tune round ${finetuneRound} of run ${runId} has no recorded input model: cannot rebuild ${siteId}'s local model`,
        'LOCAL_MODEL_UNKNOWN',
      );
    }
    // Most sites share the last round's base: decode it once.
    if (base?.digest !== inputDigest)
      base = { digest: inputDigest, arrays: decodeWeights(await blobs.get(inputDigest)) };
    const local = localModelFrom(base.arrays, decodeWeights(await blobs.get(update.digest)), updateKind);
    const { digest } = await blobs.put(encodeWeights(local, 'float32'));
    const threshold = thresholds.get(`${siteId}\u0000${finetuneRound}`);
    models.push({ siteId, finetuneRound, digest, ...(threshold !== undefined ? { threshold } : {}) });
  }
  return models;
}

/**
 * The cut-off each site chose for its trained local model on its own validation split, by site
 * and fine-tune round: the `val_threshold` its update reported (recorded per site as
 * `train/val_threshold`). The cross-site rounds send it with the site's model (libs/federated
 * `evaluationThresholdOf`), so other sites classify at the owner's operating point.
 */
async function validationThresholds(store: CoordinatorStore, runId: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const m of await store.metrics.listForRun(runId)) {
    if (
      m.stage === 'finetune' &&
      m.siteId &&
      m.name === `train/${VAL_THRESHOLD_METRIC}` &&
      Number.isFinite(m.value)
    )
      out.set(`${m.siteId}\u0000${m.round}`, m.value);
  }
  return out;
}
