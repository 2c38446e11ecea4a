import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants, createReadStream, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { Readable, Transform, TransformCallback } from 'node:stream';
import { PhccError, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../../../../libs/common/src';

/** SHA-512 in lowercase hex: the same name `weightsDigest` gives an encoded model. */
const DIGEST = /^[0-9a-f]{128}$/;

export class BlobIntegrityError extends PhccError {
  constructor(digest: string, actual: string) {
    super(
      `blob ${digest.slice(0, 16)}… is corrupt on disk (its bytes hash to ${actual.slice(0, 16)}…)`,
      'BLOB_CORRUPT',
    );
  }
}

export class BlobNotFoundError extends PhccError {
  constructor(digest: string) {
    super(`no blob ${digest.slice(0, 16)}… in the store`, 'BLOB_NOT_FOUND');
  }
}

export interface PutResult {
  digest: string;
  bytes: number;
  /** false when the store already held these bytes (content addressing makes puts idempotent). */
  created: boolean;
}

/**
 * Content-addressed files on disk: a blob's name is the SHA-512 of its bytes, so the name is a
 * checksum and equal models are stored once. Writes go to a temp file, are fsynced, then renamed
 * into place, so a crash never leaves a half-written blob under a valid name. Reads re-hash and
 * refuse bytes that do not match their name (disk rot, tampering).
 *
 * Layout: DIR/<first 2 hex>/<digest>; DIR/tmp/ for writes in progress.
 */
export class BlobStore {
  private readonly tmpDir: string;

  constructor(readonly dir: string) {
    this.tmpDir = join(dir, 'tmp');
  }

  static digestOf(bytes: Uint8Array): string {
    return createHash('sha512').update(bytes).digest('hex');
  }

  async init(): Promise<this> {
    await fs.mkdir(this.tmpDir, { recursive: true, mode: PRIVATE_DIR_MODE });
    // Owner-only also for a store created by an older build (models may be all a hospital shares).
    await fs.chmod(this.dir, PRIVATE_DIR_MODE);
    // Temp files left by a crash are never valid blobs: clear them.
    for (const name of await fs.readdir(this.tmpDir)) await fs.rm(join(this.tmpDir, name), { force: true });
    return this;
  }

  async put(bytes: Uint8Array): Promise<PutResult> {
    return this.putVerified(BlobStore.digestOf(bytes), bytes);
  }

  /**
   * Stores bytes whose SHA-512 the caller has already verified (an update whose transfer checked
   * it against the signed envelope): the same write, without hashing the bytes a second time.
   */
  async putVerified(digest: string, bytes: Uint8Array): Promise<PutResult> {
    const target = this.pathOf(digest);
    if (await this.has(digest)) return { digest, bytes: bytes.length, created: false };
    await fs.mkdir(join(this.dir, digest.slice(0, 2)), { recursive: true, mode: PRIVATE_DIR_MODE });
    const tmp = join(this.tmpDir, `${digest.slice(0, 16)}-${randomBytes(6).toString('hex')}`);
    const handle = await fs.open(tmp, 'wx', PRIVATE_FILE_MODE);
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, target);
    return { digest, bytes: bytes.length, created: true };
  }

  /** Deletes a blob (retention of folded site updates); false when it was not there. */
  async remove(digest: string): Promise<boolean> {
    if (!DIGEST.test(digest)) return false;
    try {
      await fs.rm(this.pathOf(digest));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  async has(digest: string): Promise<boolean> {
    return (await this.statOrUndefined(digest)) !== undefined;
  }

  /** Size in bytes, or undefined when absent. */
  async size(digest: string): Promise<number | undefined> {
    return (await this.statOrUndefined(digest))?.size;
  }

  /** The whole blob, verified against its digest. */
  async get(digest: string): Promise<Uint8Array> {
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(this.pathOf(digest));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new BlobNotFoundError(digest);
      throw err;
    }
    const actual = BlobStore.digestOf(bytes);
    if (actual !== digest) throw new BlobIntegrityError(digest, actual);
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  }

  /**
   * Re-hashes a stored blob without holding it in memory; throws BlobIntegrityError when its bytes
   * no longer match its name (BlobNotFoundError when absent). Callers that serve a blob verify it
   * first, so corrupt bytes are never sent with a 200.
   */
  async verify(digest: string): Promise<void> {
    const hash = createHash('sha512');
    try {
      for await (const chunk of createReadStream(this.pathOf(digest))) hash.update(chunk as Buffer);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new BlobNotFoundError(digest);
      throw err;
    }
    const actual = hash.digest('hex');
    if (actual !== digest) throw new BlobIntegrityError(digest, actual);
  }

  /** Whether the store's folder can be listed and written now (for /health). */
  async writable(): Promise<boolean> {
    try {
      await fs.access(this.tmpDir, fsConstants.R_OK | fsConstants.W_OK | fsConstants.X_OK);
      await fs.readdir(this.dir);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Streams a blob (for sending large models without holding them twice in memory). The hash is
   * computed on the way through; the stream ends with a BlobIntegrityError instead of a clean
   * end if the bytes do not match, so a consumer must treat only a clean end as success.
   */
  async stream(digest: string): Promise<Readable> {
    if (!(await this.has(digest))) throw new BlobNotFoundError(digest);
    const hash = createHash('sha512');
    const verify = new Transform({
      transform(chunk: Buffer, _enc, done: TransformCallback) {
        hash.update(chunk);
        done(null, chunk);
      },
      flush(done: TransformCallback) {
        const actual = hash.digest('hex');
        done(actual === digest ? null : new BlobIntegrityError(digest, actual));
      },
    });
    const source = createReadStream(this.pathOf(digest));
    source.on('error', (err) => verify.destroy(err));
    return source.pipe(verify);
  }

  private pathOf(digest: string): string {
    // The digest becomes a path: only exact SHA-512 hex may ever reach the file system.
    if (!DIGEST.test(digest))
      throw new PhccError(`"${digest.slice(0, 40)}" is not a SHA-512 hex digest`, 'BAD_DIGEST', 2);
    return join(this.dir, digest.slice(0, 2), digest);
  }

  private async statOrUndefined(digest: string) {
    try {
      return await fs.stat(this.pathOf(digest));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }
}
