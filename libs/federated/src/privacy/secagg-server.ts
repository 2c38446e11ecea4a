import { keyPairFromSecret, pairwiseSeed } from './key-agreement';
import { NeighbourGraph, neighbourGraph } from './neighbours';
import { addMaskInto, deriveSeed } from './prg';
import { ringAddInto } from './ring';
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
import { equalBytes } from './secagg-site';
import { Share, shamirCombine } from './shamir';

type ServerPhase = 'keys' | 'shares' | 'masked' | 'unmask' | 'done';

/** Everything the server holds, for audit and tests: no field is a site's individual input. */
export interface SecAggServerHoldings {
  phase: ServerPhase;
  adverts: readonly KeyAdvert[];
  /** Sealed shares in transit (opaque to the server). */
  sealedShares: number;
  /** Σ of masked inputs received so far: the only vector the server keeps. */
  maskedSum: Float64Array | null;
  maskedFrom: readonly string[];
  revealed: ReadonlyMap<string, { selfSeed: number; maskingKey: number }>;
}

/**
 * The coordinator's side of a secure-aggregation round as a state machine. `receive*` admit one
 * site's message of the current step; `close*` end the step (all arrived, or the deadline
 * passed: the adapter decides when) and return what to send. The server adds each masked input
 * into one running sum on arrival and keeps no per-site vector, so it never holds anything from
 * which one site's input could be read; `finish` removes the masks from the sum once t shares
 * per secret have come back.
 */
export class SecAggServer {
  private phase: ServerPhase = 'keys';
  private readonly adverts = new Map<string, KeyAdvert>();
  private graph: NeighbourGraph = new Map();
  private readonly outgoingShares = new Map<string, ShareKeysMessage>();
  /** U2: the sites whose shares were routed. */
  private u2 = new Set<string>();
  private readonly maskedFrom = new Set<string>();
  private maskedSum: Float64Array | null = null;
  private survivors = new Set<string>();
  private dropped = new Set<string>();
  private readonly selfSeedShares = new Map<string, Share[]>();
  private readonly maskingKeyShares = new Map<string, Share[]>();
  private readonly unmaskedFrom = new Set<string>();

  constructor(private readonly config: SecAggConfig) {
    checkConfig(config);
  }

  receiveKeys(advert: KeyAdvert): void {
    this.expect('keys');
    if (this.adverts.has(advert.siteId))
      throw new SecAggError(`site ${advert.siteId} advertised keys twice`, 'SECAGG_DUPLICATE');
    this.adverts.set(advert.siteId, advert);
  }

  /** Ends step 1: the directory every advertising site receives (the set U1). */
  closeKeys(): KeyDirectory {
    this.expect('keys');
    const ids = [...this.adverts.keys()].sort();
    if (ids.length < 2)
      throw new SecAggError(
        `${ids.length} site(s) advertised keys; secure aggregation needs at least 2`,
        'SECAGG_TOO_FEW',
      );
    checkThreshold(this.config, ids.length);
    this.graph = neighbourGraph(ids, this.config.neighbours, this.config.roundId);
    this.phase = 'shares';
    return { roundId: this.config.roundId, sites: ids.map((id) => this.adverts.get(id)!) };
  }

  /** A site's sealed shares: exactly one for each of its neighbours. */
  receiveShares(message: ShareKeysMessage): void {
    this.expect('shares');
    const neighbours = this.graph.get(message.siteId);
    if (!neighbours)
      throw new SecAggError(
        `site ${message.siteId} did not advertise keys this round`,
        'SECAGG_UNKNOWN_SITE',
      );
    if (this.outgoingShares.has(message.siteId))
      throw new SecAggError(`site ${message.siteId} sent shares twice`, 'SECAGG_DUPLICATE');
    const targets = new Set(message.shares.map((s) => s.to));
    const routed = message.shares.every((s) => s.from === message.siteId && neighbours.has(s.to));
    if (!routed || targets.size !== neighbours.size || message.shares.length !== neighbours.size) {
      throw new SecAggError(
        `site ${message.siteId} must send exactly one share to each of its ${neighbours.size} neighbours`,
        'SECAGG_SHARES',
      );
    }
    this.outgoingShares.set(message.siteId, message);
  }

  /** Ends step 2 (U2 = sites whose shares arrived): each member of U2 gets the shares addressed to it. */
  closeShares(): Map<string, ShareInbox> {
    this.expect('shares');
    const inboxes = new Map<string, ShareInbox>();
    for (const id of this.outgoingShares.keys()) inboxes.set(id, { to: id, shares: [] });
    for (const message of this.outgoingShares.values()) {
      for (const share of message.shares) inboxes.get(share.to)?.shares.push(share);
    }
    this.u2 = new Set(this.outgoingShares.keys());
    this.outgoingShares.clear();
    this.phase = 'masked';
    return inboxes;
  }

  /** A masked input: added into the running sum at once and not kept. */
  receiveMasked(message: MaskedInputMessage): void {
    this.expect('masked');
    if (!this.u2.has(message.siteId))
      throw new SecAggError(`site ${message.siteId} did not share keys this round`, 'SECAGG_UNKNOWN_SITE');
    if (this.maskedFrom.has(message.siteId))
      throw new SecAggError(`site ${message.siteId} sent its input twice`, 'SECAGG_DUPLICATE');
    if (message.masked.length !== this.config.vectorLength) {
      throw new SecAggError(
        `site ${message.siteId} sent ${message.masked.length} elements, not ${this.config.vectorLength}`,
        'SECAGG_LENGTH',
      );
    }
    const modulus = 2 ** this.config.ringBits;
    for (let i = 0; i < message.masked.length; i++) {
      const v = message.masked[i];
      if (!(Number.isInteger(v) && v >= 0 && v < modulus)) {
        throw new SecAggError(
          `site ${message.siteId}: masked element ${i} is outside Z_2^${this.config.ringBits}`,
          'SECAGG_RANGE',
        );
      }
    }
    if (this.maskedSum === null) this.maskedSum = Float64Array.from(message.masked);
    else ringAddInto(this.maskedSum, message.masked, this.config.ringBits);
    this.maskedFrom.add(message.siteId);
  }

  /**
   * Ends step 3 (U3 = sites whose input arrived). Fails at once, naming the site, when some
   * secret could not be recovered because fewer than t holders of its shares survive.
   */
  closeMasked(): UnmaskRequest {
    this.expect('masked');
    this.survivors = new Set(this.maskedFrom);
    this.dropped = new Set([...this.u2].filter((id) => !this.survivors.has(id)));
    const t = this.config.threshold;
    for (const id of [...this.survivors, ...this.dropped]) {
      const holders = [id, ...this.graph.get(id)!].filter((h) => this.survivors.has(h)).length;
      if (holders < t) {
        throw new SecAggError(
          `site ${id}'s masks need ${t} shares but only ${holders} holders of them sent their input; the round cannot be unmasked`,
          'SECAGG_TOO_FEW',
        );
      }
    }
    this.phase = 'unmask';
    return {
      roundId: this.config.roundId,
      survivors: [...this.survivors].sort(),
      dropped: [...this.dropped].sort(),
    };
  }

  /** A survivor's revealed shares; only shares the request asked for are admitted. */
  receiveUnmask(message: UnmaskMessage): void {
    this.expect('unmask');
    if (!this.survivors.has(message.siteId))
      throw new SecAggError(`site ${message.siteId} is not a survivor`, 'SECAGG_UNKNOWN_SITE');
    if (this.unmaskedFrom.has(message.siteId))
      throw new SecAggError(`site ${message.siteId} sent its shares twice`, 'SECAGG_DUPLICATE');
    const admit = (revealed: RevealedShare[], allowed: Set<string>, into: Map<string, Share[]>): void => {
      for (const { of, share } of revealed) {
        if (!allowed.has(of))
          throw new SecAggError(
            `site ${message.siteId} revealed a share of ${of} that was not asked for`,
            'SECAGG_UNMASK_CONFLICT',
          );
        const list = into.get(of) ?? [];
        list.push(share);
        into.set(of, list);
      }
    };
    admit(message.selfSeedShares, this.survivors, this.selfSeedShares);
    admit(message.maskingKeyShares, this.dropped, this.maskingKeyShares);
    this.unmaskedFrom.add(message.siteId);
  }

  /**
   * Step 4's result: Σ_{u∈U3} x_u (mod 2^ringBits). Removes each survivor's self mask (its seed
   * from t shares) and, for each dropped site, the pairwise masks its surviving neighbours added
   * (its masking key from t shares, checked against the key it advertised).
   */
  finish(): { sum: Float64Array; survivors: string[]; dropped: string[] } {
    this.expect('unmask');
    const t = this.config.threshold;
    const bits = this.config.ringBits;
    const sum = this.maskedSum!;
    for (const u of this.survivors) {
      const seed = shamirCombine(this.selfSeedShares.get(u) ?? [], t);
      addMaskInto(sum, deriveSeed('self', this.config.roundId, seed), bits, -1);
    }
    for (const v of this.dropped) {
      const secret = shamirCombine(this.maskingKeyShares.get(v) ?? [], t);
      if (!equalBytes(keyPairFromSecret(secret).publicKey, this.adverts.get(v)!.maskingKey)) {
        throw new SecAggError(
          `the recovered masking key of ${v} does not match the key it advertised`,
          'SECAGG_RECOVERY',
        );
      }
      for (const w of this.graph.get(v)!) {
        if (!this.survivors.has(w)) continue;
        // w added pairSign(w, v)·PRG(s_wv); take it back out.
        addMaskInto(
          sum,
          pairwiseSeed(secret, this.adverts.get(w)!.maskingKey, this.config.roundId),
          bits,
          pairSign(w, v) === 1 ? -1 : 1,
        );
      }
    }
    this.phase = 'done';
    return { sum, survivors: [...this.survivors].sort(), dropped: [...this.dropped].sort() };
  }

  holdings(): SecAggServerHoldings {
    const revealed = new Map<string, { selfSeed: number; maskingKey: number }>();
    for (const id of new Set([...this.selfSeedShares.keys(), ...this.maskingKeyShares.keys()])) {
      revealed.set(id, {
        selfSeed: this.selfSeedShares.get(id)?.length ?? 0,
        maskingKey: this.maskingKeyShares.get(id)?.length ?? 0,
      });
    }
    let sealedShares = 0;
    for (const m of this.outgoingShares.values()) sealedShares += m.shares.length;
    return {
      phase: this.phase,
      adverts: [...this.adverts.values()],
      sealedShares,
      maskedSum: this.phase === 'done' ? null : this.maskedSum,
      maskedFrom: [...this.maskedFrom],
      revealed,
    };
  }

  private expect(phase: ServerPhase): void {
    if (this.phase !== phase)
      throw new SecAggError(`a ${phase} step while the round is at ${this.phase}`, 'SECAGG_ORDER');
  }
}
