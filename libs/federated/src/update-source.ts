import { PhccError } from '../../common/src';
import { readWeightsHeader } from '../../weights/src';
import { HOST_LITTLE_ENDIAN } from '../../weights/src/little-endian';
import { readTensorData } from '../../weights/src/tensor-data';
import { NamedArray, TensorPredicate, UpdateEntry, UpdateSource } from './types';

/**
 * Updates held as decoded arrays (tests, simulations). `read` returns copies so that a strategy
 * can never alter the stored update, as with a real blob store.
 */
export class InMemoryUpdateSource implements UpdateSource {
  private readonly updates = new Map<string, NamedArray[]>();

  constructor(
    private readonly admitted: readonly UpdateEntry[],
    updates: Iterable<[string, NamedArray[]]>,
  ) {
    for (const [siteId, arrays] of updates) this.updates.set(siteId, arrays);
  }

  entries(): readonly UpdateEntry[] {
    return this.admitted;
  }

  async read(siteId: string, wanted: TensorPredicate): Promise<NamedArray[]> {
    const arrays = this.updates.get(siteId);
    if (!arrays) throw new PhccError(`no stored update for site "${siteId}"`, 'UPDATE_NOT_FOUND');
    return arrays
      .filter((a) => wanted(a.name))
      .map((a) => ({ name: a.name, shape: [...a.shape], values: new Float32Array(a.values) }));
  }
}

/**
 * Updates stored as encoded weight buffers (what the blob store holds); `load` fetches one
 * site's buffer. Only the wanted tensors are decoded: the others' bytes are never read. float32
 * tensors are returned as views into the buffer when the host is little-endian and the data is
 * aligned (the codec aligns it to 8 bytes), so an update costs its buffer and nothing more while
 * it is folded. The views are read-only by contract: the strategy never writes to an update.
 */
export class EncodedUpdateSource implements UpdateSource {
  constructor(
    private readonly admitted: readonly UpdateEntry[],
    private readonly load: (siteId: string) => Promise<Uint8Array> | Uint8Array,
  ) {}

  entries(): readonly UpdateEntry[] {
    return this.admitted;
  }

  async read(siteId: string, wanted: TensorPredicate): Promise<NamedArray[]> {
    const buffer = await this.load(siteId);
    return decodeSelected(buffer, wanted);
  }
}

/** Decodes the tensors of an encoded weight buffer whose names pass `wanted`. */
export function decodeSelected(buffer: Uint8Array, wanted: TensorPredicate): NamedArray[] {
  const header = readWeightsHeader(buffer);
  const arrays: NamedArray[] = [];
  for (const entry of header.tensors) {
    if (!wanted(entry.name)) continue;
    const start = buffer.byteOffset + entry.byteOffset;
    const values =
      entry.dtype === 'float32' && HOST_LITTLE_ENDIAN && start % 4 === 0
        ? new Float32Array(buffer.buffer, start, entry.size)
        : readTensorData(buffer, entry.dtype, entry.byteOffset, entry.size, entry.scale);
    arrays.push({ name: entry.name, shape: [...entry.shape], values });
  }
  return arrays;
}
