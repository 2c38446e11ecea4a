import { NamedArray } from '../../../../libs/federated/src';
import { ArrayLayout, decodeWeights, layoutOf } from '../../../../libs/weights/src';
import { BlobStore } from '../models/blob-store';

/** A model the rounds send, read from the blob store once and decoded at most once. */
export interface RoundModel {
  digest: string;
  bytes: Uint8Array;
  /** Decoded on first use (the gate of a 'weights' round and the layout need it). */
  arrays(): NamedArray[];
  layout(): readonly ArrayLayout[];
}

/** How many models stay cached: the current global, the previous one, and a cross-site model. */
const CACHED_MODELS = 3;

/**
 * The models that rounds send and check updates against, by digest. One read and one decode per
 * model, however many sites it goes to and however many updates are gated against it.
 */
export class GlobalModels {
  private readonly cache = new Map<string, Promise<RoundModel>>();

  constructor(private readonly blobs: BlobStore) {}

  get(digest: string): Promise<RoundModel> {
    let model = this.cache.get(digest);
    if (model) {
      // Most recently used last.
      this.cache.delete(digest);
      this.cache.set(digest, model);
      return model;
    }
    model = this.load(digest);
    model.catch(() => this.cache.delete(digest));
    this.cache.set(digest, model);
    while (this.cache.size > CACHED_MODELS) this.cache.delete(this.cache.keys().next().value!);
    return model;
  }

  private async load(digest: string): Promise<RoundModel> {
    const bytes = await this.blobs.get(digest);
    let arrays: NamedArray[] | undefined;
    const decoded = (): NamedArray[] => (arrays ??= decodeWeights(bytes));
    return { digest, bytes, arrays: decoded, layout: () => layoutOf(decoded()) };
  }
}
