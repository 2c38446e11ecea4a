import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { weightsDigest } from '../../../../libs/weights/src';
import { BlobIntegrityError, BlobNotFoundError, BlobStore } from './blob-store';

async function drain(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('BlobStore', () => {
  let dir: string;
  let store: BlobStore;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'phcc-blobs-'));
    store = await new BlobStore(dir).init();
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('names blobs by the SHA-512 that weightsDigest gives, and stores equal bytes once', async () => {
    const bytes = new Uint8Array([1, 2, 3, 250]);
    const put = await store.put(bytes);
    expect(put).toEqual({ digest: weightsDigest(bytes), bytes: 4, created: true });
    expect(await store.put(bytes)).toMatchObject({ created: false });
    expect(await store.has(put.digest)).toBe(true);
    expect(await store.size(put.digest)).toBe(4);
    expect(Array.from(await store.get(put.digest))).toEqual([1, 2, 3, 250]);
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
  });

  it('knows a known SHA-512 (the empty string)', async () => {
    const put = await store.put(new Uint8Array());
    expect(put.digest).toBe(
      'cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e',
    );
  });

  it('streams a large blob intact', async () => {
    const big = new Uint8Array(3 * 1024 * 1024 + 17).map((_v, i) => (i * 31) & 0xff);
    const { digest } = await store.put(big);
    expect((await drain(await store.stream(digest))).equals(Buffer.from(big))).toBe(true);
  });

  it('refuses bytes that no longer match their name, on get and on stream', async () => {
    const { digest } = await store.put(new Uint8Array([9, 9, 9]));
    writeFileSync(join(dir, digest.slice(0, 2), digest), Buffer.from([9, 9, 8]));
    await expect(store.get(digest)).rejects.toBeInstanceOf(BlobIntegrityError);
    await expect(drain(await store.stream(digest))).rejects.toBeInstanceOf(BlobIntegrityError);
  });

  it('says absent plainly and never lets a name escape the directory', async () => {
    const absent = 'a'.repeat(128);
    expect(await store.has(absent)).toBe(false);
    expect(await store.size(absent)).toBeUndefined();
    await expect(store.get(absent)).rejects.toBeInstanceOf(BlobNotFoundError);
    await expect(store.stream(absent)).rejects.toBeInstanceOf(BlobNotFoundError);
    await expect(store.has('../../etc/passwd')).rejects.toThrow(/not a SHA-512/);
    await expect(store.get('A'.repeat(128))).rejects.toThrow(/not a SHA-512/);
  });

  it('clears temp files a crash left behind', async () => {
    writeFileSync(join(dir, 'tmp', 'half-written'), 'x');
    await new BlobStore(dir).init();
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
  });
});
