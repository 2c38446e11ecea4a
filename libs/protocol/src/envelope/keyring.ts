import { PUBLIC_KEY_BYTES } from './keys';

/**
 * Who may sign: signer id → Ed25519 public key, plus the ids whose enrolment was revoked. The
 * coordinator fills it from sites.json (plus its own key); a site holds just the coordinator.
 */
export class Keyring {
  private readonly keys = new Map<string, Uint8Array>();
  private readonly revoked = new Set<string>();

  constructor(entries: Iterable<readonly [string, Uint8Array]> = [], revoked: Iterable<string> = []) {
    for (const [id, key] of entries) this.add(id, key);
    for (const id of revoked) this.revoked.add(id);
  }

  add(id: string, publicKey: Uint8Array): this {
    if (publicKey.length !== PUBLIC_KEY_BYTES) throw new RangeError(`public key of ${id} is not 32 bytes`);
    this.keys.set(id, new Uint8Array(publicKey));
    return this;
  }

  /** Revocation is sticky: a revoked id stays refused even if its key is still listed. */
  revoke(id: string): this {
    this.revoked.add(id);
    return this;
  }

  /** Lifts a revocation: only for a site provisioned again under a new key (PROTOCOL.md §2.2). */
  readmit(id: string): this {
    this.revoked.delete(id);
    return this;
  }

  publicKey(id: string): Uint8Array | undefined {
    return this.keys.get(id);
  }

  isRevoked(id: string): boolean {
    return this.revoked.has(id);
  }

  ids(): string[] {
    return [...this.keys.keys()];
  }
}
