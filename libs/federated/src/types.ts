/**
 * Shared vocabulary of libs/federated: named weight tensors, what a site sends, and the
 * `UpdateSource` through which strategies read updates one at a time.
 */

import type { NamedArray } from '../../weights/src';

/** One named weight tensor, exactly as the weight codec (libs/model codec) decodes it. */
export type { NamedArray };

/** A tensor's name and shape without its values: what "the same model" means between parties. */
export interface TensorLayout {
  name: string;
  shape: readonly number[];
}

/** A site sends either its full local weights or the difference to the global it started from. */
export type UpdateKind = 'weights' | 'delta';
export const UPDATE_KINDS: readonly UpdateKind[] = ['weights', 'delta'];

/** Stage 1 = FCMAE self-supervised pre-training; stage 2 = supervised fine-tuning. */
export type TrainingStage = 'ssl' | 'finetune';
export const TRAINING_STAGES: readonly TrainingStage[] = ['ssl', 'finetune'];

/** Scalar metrics a site reports with its update or evaluation (loss, AUC, …). */
export type SiteMetrics = Record<string, number>;

/** A site's update as the coordinator received it, after signature verification and decoding. */
export interface IncomingUpdate {
  siteId: string;
  kind: UpdateKind;
  /** Training samples behind this update: its weight in the average. */
  numSamples: number;
  arrays: NamedArray[];
  metrics?: SiteMetrics;
}

/**
 * What the coordinator keeps in memory about an admitted update while its tensors wait in the
 * blob store. Small on purpose: N entries cost nothing next to one model.
 */
export interface UpdateEntry {
  siteId: string;
  kind: UpdateKind;
  numSamples: number;
  /** L2 norm of the update's change to the global (computed on arrival, bounded at round end). */
  deltaNorm: number;
  metrics: SiteMetrics;
}

/** Chooses the tensors to read; lets a strategy avoid ever touching tensors it must not use. */
export type TensorPredicate = (name: string) => boolean;

/**
 * Where a strategy reads the round's updates from. Backed by the coordinator's blob store (decode
 * on read) in production and by memory in tests. Strategies call `read` for one site at a time,
 * in site-id order, and drop each update before reading the next, so memory does not grow with
 * the number of sites.
 */
export interface UpdateSource {
  /** The round's admitted updates (metadata only). */
  entries(): readonly UpdateEntry[];
  /** Decode one site's update, keeping only the tensors for which `wanted(name)` holds. */
  read(siteId: string, wanted: TensorPredicate): Promise<NamedArray[]>;
}
