import { createHash } from 'node:crypto';

/**
 * The payload of a paired evaluation task (protocol 1.3, docs/PROTOCOL.md §4.2): the task's model
 * and the models it is compared with, each as its own encoded bytes, so that the site checks every
 * one against the digest the signed task names — the same SHA-512 that names it in the blob store.
 * Hand-written (a length-prefixed concatenation): a container format (tar, zip) would add a
 * dependency and file names the site must not trust, for 30 lines of framing.
 *
 *   "PHCCMB1\n" | u32 count | count × (u64 length) | the models' bytes, in order  (big-endian)
 */
const MAGIC = Buffer.from('PHCCMB1\n', 'ascii');

export function encodeModelBundle(models: readonly Uint8Array[]): Buffer {
  const header = Buffer.alloc(MAGIC.length + 4 + 8 * models.length);
  MAGIC.copy(header, 0);
  header.writeUInt32BE(models.length, MAGIC.length);
  models.forEach((m, i) => header.writeBigUInt64BE(BigInt(m.byteLength), MAGIC.length + 4 + 8 * i));
  return Buffer.concat([header, ...models.map((m) => Buffer.from(m.buffer, m.byteOffset, m.byteLength))]);
}

/**
 * The bundle's models, in order, each verified against `digests` (the task's model, then its
 * `compareWith`). Throws a one-line error naming the first problem.
 */
export function decodeModelBundle(payload: Uint8Array, digests: readonly string[]): Buffer[] {
  const bytes = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  if (bytes.length < MAGIC.length + 4 || !bytes.subarray(0, MAGIC.length).equals(MAGIC))
    throw new Error('model bundle: the payload is not a model bundle (bad magic)');
  const count = bytes.readUInt32BE(MAGIC.length);
  if (count !== digests.length)
    throw new Error(`model bundle: holds ${count} models, the task names ${digests.length}`);
  let offset = MAGIC.length + 4 + 8 * count;
  if (bytes.length < offset) throw new Error('model bundle: truncated header');
  const models: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const length = Number(bytes.readBigUInt64BE(MAGIC.length + 4 + 8 * i));
    if (offset + length > bytes.length) throw new Error(`model bundle: model ${i} runs past the payload`);
    const model = bytes.subarray(offset, offset + length);
    const digest = createHash('sha512').update(model).digest('hex');
    if (digest !== digests[i])
      throw new Error(
        `model bundle: model ${i} has digest ${digest.slice(0, 16)}…, the task names ${digests[i].slice(0, 16)}…`,
      );
    models.push(model);
    offset += length;
  }
  if (offset !== bytes.length)
    throw new Error(`model bundle: ${bytes.length - offset} bytes after the last model`);
  return models;
}
