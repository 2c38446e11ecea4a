import { randomBytes } from 'node:crypto';
import { newKeyPair, openFrom, pairwiseSeed, sealFor, X25519KeyPair } from './key-agreement';
import { neighbourGraph } from './neighbours';
import { addMaskInto, deriveSeed, SEED_BYTES } from './prg';
import {
  checkConfig,
  checkThreshold,
  KeyAdvert,
  KeyDirectory,
  MaskedInputMessage,
  pairSign,
  RevealedShare,
  SecAggConfig,
  SecAggError,
  ShareInbox,
  ShareKeysMessage,
  UnmaskMessage,
  UnmaskRequest,
} from './secagg-messages';
import { bigintToBytes, bytesToBigint, Share, SHARE_Y_BYTES, shamirSplit } from './shamir';

type SitePhase = 'new' | 'advertised' | 'shared' | 'masked' | 'done';

/** What a neighbour's sealed message holds once opened. */
interface SharePlaintext {
  roundId: string;
  from: string;
  to: string;
  x: number;
  maskingKey: string;
  selfSeed: string;
}

/**
 * One site's side of a secure-aggregation round, as a state machine: each step takes what the
 * server sent and returns what to send back, and refuses to run out of order. It holds the
 * round's secrets (two key pairs, the self-mask seed, the shares it received) and forgets
 * nothing it would need to answer the unmasking step.
 *
 * The one rule that protects the site's input: for any neighbour it reveals either the share of
 * its self seed (the neighbour survived) or the share of its masking key (it dropped), never
 * both, and it checks the server's two lists are disjoint before revealing anything.
 */
export class SecAggSite {
  private phase: SitePhase = 'new';
  private readonly encryption: X25519KeyPair = newKeyPair();
  private readonly masking: X25519KeyPair = newKeyPair();
  private readonly selfSeed = new Uint8Array(randomBytes(SEED_BYTES));
  private directory = new Map<string, KeyAdvert>();
  private neighbours: ReadonlySet<string> = new Set();
  /** Shares this site holds, by whose secret they are (its own included). */
  private readonly held = new Map<string, { maskingKey: Share; selfSeed: Share }>();

  constructor(
    readonly siteId: string,
    private readonly config: SecAggConfig,
  ) {
    checkConfig(config);
  }

  /** Step 1: the two public keys. */
  advertise(): KeyAdvert {
    this.expect('new');
    this.phase = 'advertised';
    return {
      siteId: this.siteId,
      encryptionKey: this.encryption.publicKey,
      maskingKey: this.masking.publicKey,
    };
  }

  /**
   * Step 2: from the directory of advertised keys, secret-share the masking key and the self
   * seed among the neighbours (t of N(u) ∪ {u} recover them) and seal each share for its holder.
   */
  shareKeys(directory: KeyDirectory): ShareKeysMessage {
    this.expect('advertised');
    if (directory.roundId !== this.config.roundId) {
      throw new SecAggError(
        `key directory is for round ${directory.roundId}, not ${this.config.roundId}`,
        'SECAGG_ROUND',
      );
    }
    const ids = directory.sites.map((s) => s.siteId);
    if (new Set(ids).size !== ids.length)
      throw new SecAggError('key directory names a site twice', 'SECAGG_DIRECTORY');
    const mine = directory.sites.find((s) => s.siteId === this.siteId);
    if (
      !mine ||
      !equalBytes(mine.maskingKey, this.masking.publicKey) ||
      !equalBytes(mine.encryptionKey, this.encryption.publicKey)
    ) {
      throw new SecAggError(
        'key directory does not hold this site with the keys it advertised',
        'SECAGG_DIRECTORY',
      );
    }
    checkThreshold(this.config, ids.length);
    this.directory = new Map(directory.sites.map((s) => [s.siteId, s]));
    const sorted = [...ids].sort();
    const xOf = new Map(sorted.map((id, i) => [id, i + 1]));
    this.neighbours = neighbourGraph(sorted, this.config.neighbours, this.config.roundId).get(this.siteId)!;
    const holders = [this.siteId, ...this.neighbours];
    const xs = holders.map((id) => xOf.get(id)!);
    const keyShares = shamirSplit(this.masking.secretKey, xs, this.config.threshold);
    const seedShares = shamirSplit(this.selfSeed, xs, this.config.threshold);
    const shares = [];
    for (let i = 0; i < holders.length; i++) {
      const to = holders[i];
      if (to === this.siteId) {
        this.held.set(this.siteId, { maskingKey: keyShares[i], selfSeed: seedShares[i] });
        continue;
      }
      const plain: SharePlaintext = {
        roundId: this.config.roundId,
        from: this.siteId,
        to,
        x: xs[i],
        maskingKey: shareHex(keyShares[i]),
        selfSeed: shareHex(seedShares[i]),
      };
      const sealed = sealFor(
        Buffer.from(JSON.stringify(plain), 'utf8'),
        this.encryption.secretKey,
        this.directory.get(to)!.encryptionKey,
      );
      shares.push({ from: this.siteId, to, ciphertext: sealed });
    }
    this.phase = 'shared';
    return { siteId: this.siteId, shares };
  }

  /**
   * Step 3: open the neighbours' shares (those who sent them are U2 for this site), then mask
   * `input` (ring elements, the encoded update): y = x + PRG(self) + Σ_v ±PRG(s_uv).
   */
  maskInput(inbox: ShareInbox, input: Float64Array): MaskedInputMessage {
    this.expect('shared');
    if (inbox.to !== this.siteId)
      throw new SecAggError(`share inbox is addressed to ${inbox.to}`, 'SECAGG_INBOX');
    if (input.length !== this.config.vectorLength) {
      throw new SecAggError(
        `input has ${input.length} elements; the round expects ${this.config.vectorLength}`,
        'SECAGG_LENGTH',
      );
    }
    const modulus = 2 ** this.config.ringBits;
    for (let i = 0; i < input.length; i++) {
      if (!(Number.isInteger(input[i]) && input[i] >= 0 && input[i] < modulus)) {
        throw new SecAggError(
          `input element ${i} (${input[i]}) is not in Z_2^${this.config.ringBits}`,
          'SECAGG_RANGE',
        );
      }
    }
    const senders: string[] = [];
    for (const sealed of inbox.shares) {
      const from = sealed.from;
      if (!this.neighbours.has(from))
        throw new SecAggError(`a share from ${from}, who is not a neighbour`, 'SECAGG_INBOX');
      if (this.held.has(from)) throw new SecAggError(`two shares from ${from}`, 'SECAGG_INBOX');
      const plain = JSON.parse(
        Buffer.from(
          openFrom(sealed.ciphertext, this.encryption.secretKey, this.directory.get(from)!.encryptionKey),
        ).toString('utf8'),
      ) as SharePlaintext;
      if (plain.roundId !== this.config.roundId || plain.from !== from || plain.to !== this.siteId) {
        throw new SecAggError(`the share sealed by ${from} names another round or route`, 'SECAGG_INBOX');
      }
      this.held.set(from, {
        maskingKey: parseShare(plain.x, plain.maskingKey),
        selfSeed: parseShare(plain.x, plain.selfSeed),
      });
      senders.push(from);
    }
    const masked = Float64Array.from(input);
    addMaskInto(masked, deriveSeed('self', this.config.roundId, this.selfSeed), this.config.ringBits, 1);
    for (const v of senders) {
      const seed = pairwiseSeed(
        this.masking.secretKey,
        this.directory.get(v)!.maskingKey,
        this.config.roundId,
      );
      addMaskInto(masked, seed, this.config.ringBits, pairSign(this.siteId, v));
    }
    this.phase = 'masked';
    return { siteId: this.siteId, masked };
  }

  /**
   * Step 4: reveal, for each neighbour (and itself), the share the server may have: the
   * self-seed share of a survivor, the masking-key share of a site that dropped after sharing.
   */
  unmask(request: UnmaskRequest): UnmaskMessage {
    this.expect('masked');
    if (request.roundId !== this.config.roundId)
      throw new SecAggError(`unmask request for round ${request.roundId}`, 'SECAGG_ROUND');
    const survivors = new Set(request.survivors);
    const dropped = new Set(request.dropped);
    for (const id of dropped) {
      if (survivors.has(id)) {
        throw new SecAggError(
          `the server lists ${id} as both survivor and dropped; refusing to reveal shares`,
          'SECAGG_UNMASK_CONFLICT',
        );
      }
    }
    if (!survivors.has(this.siteId))
      throw new SecAggError(
        'the server lists this site, which sent its input, as not surviving',
        'SECAGG_UNMASK_CONFLICT',
      );
    const neighbourhoodSurvivors = [this.siteId, ...this.neighbours].filter((id) => survivors.has(id)).length;
    if (neighbourhoodSurvivors < this.config.threshold) {
      throw new SecAggError(
        `${neighbourhoodSurvivors} sites of this neighbourhood survived; fewer than the threshold ${this.config.threshold}`,
        'SECAGG_TOO_FEW',
      );
    }
    const selfSeedShares: RevealedShare[] = [];
    const maskingKeyShares: RevealedShare[] = [];
    for (const [of, shares] of this.held) {
      if (survivors.has(of)) selfSeedShares.push({ of, share: shares.selfSeed });
      else if (dropped.has(of)) maskingKeyShares.push({ of, share: shares.maskingKey });
    }
    this.phase = 'done';
    return { siteId: this.siteId, selfSeedShares, maskingKeyShares };
  }

  private expect(phase: SitePhase): void {
    if (this.phase !== phase) {
      throw new SecAggError(`site ${this.siteId} got a ${phase} step while ${this.phase}`, 'SECAGG_ORDER');
    }
  }
}

function shareHex(share: Share): string {
  return Buffer.from(bigintToBytes(share.y, SHARE_Y_BYTES)).toString('hex');
}

function parseShare(x: number, hex: string): Share {
  if (
    !Number.isSafeInteger(x) ||
    typeof hex !== 'string' ||
    !/^[0-9a-f]+$/.test(hex) ||
    hex.length !== SHARE_Y_BYTES * 2
  ) {
    throw new SecAggError('a sealed share is malformed', 'SECAGG_INBOX');
  }
  return { x, y: bytesToBigint(Buffer.from(hex, 'hex')) };
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
