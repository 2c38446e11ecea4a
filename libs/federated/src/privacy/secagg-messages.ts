import { PhccError } from '../../../common/src';
import { checkRingBits } from './ring';
import { Share } from './shamir';

/**
 * The messages of one secure-aggregation round (SecAgg, Bonawitz et al. 2017, semi-honest
 * variant; SecAgg+ graph of Bell et al. 2020), as plain values. The transport (signed envelopes,
 * base64) wraps them; the state machines in `secagg-site.ts` and `secagg-server.ts` only ever
 * see these. docs/PRIVACY.md walks through a round.
 *
 *   site → server   KeyAdvert          two X25519 public keys
 *   server → sites  KeyDirectory       every advert (U1), sorted by site id
 *   site → server   ShareKeysMessage   its key shares, sealed for each neighbour
 *   server → site   ShareInbox         the sealed shares addressed to it (from U2)
 *   site → server   MaskedInputMessage x + self mask ± pairwise masks (mod 2^ringBits)
 *   server → sites  UnmaskRequest      who sent an input (U3) and who dropped (U2 \ U3)
 *   site → server   UnmaskMessage      self-seed shares of survivors, key shares of the dropped
 */

/** Fixed for the round, sent with the task. */
export interface SecAggConfig {
  roundId: string;
  /** t: shares needed to recover a site's secrets; counted in its neighbourhood (itself included). */
  threshold: number;
  /** k, the SecAgg+ neighbour degree (even); null = every site is every site's neighbour. */
  neighbours: number | null;
  ringBits: number;
  /** Elements in each site's input (the encoded update plus its trailer). */
  vectorLength: number;
}

export interface KeyAdvert {
  siteId: string;
  /** X25519 public key that seals the shares sent to this site. */
  encryptionKey: Uint8Array;
  /** X25519 public key that agrees pairwise mask seeds. */
  maskingKey: Uint8Array;
}

export interface KeyDirectory {
  roundId: string;
  sites: KeyAdvert[];
}

export interface SealedShare {
  from: string;
  to: string;
  ciphertext: Uint8Array;
}

export interface ShareKeysMessage {
  siteId: string;
  shares: SealedShare[];
}

export interface ShareInbox {
  to: string;
  shares: SealedShare[];
}

export interface MaskedInputMessage {
  siteId: string;
  masked: Float64Array;
}

export interface UnmaskRequest {
  roundId: string;
  survivors: string[];
  dropped: string[];
}

export interface RevealedShare {
  /** Whose secret this is a share of. */
  of: string;
  share: Share;
}

export interface UnmaskMessage {
  siteId: string;
  /** Shares of survivors' self-mask seeds (the server removes their self masks). */
  selfSeedShares: RevealedShare[];
  /** Shares of dropped sites' masking secret keys (the server removes their pairwise masks). */
  maskingKeyShares: RevealedShare[];
}

/** Every protocol violation or impossibility, with a code the round can report. */
export class SecAggError extends PhccError {
  constructor(message: string, code: string) {
    super(`secure aggregation: ${message}`, code);
  }
}

/** Size of a site's neighbourhood (itself included) when `n` sites advertised keys. */
export function neighbourhoodSize(config: SecAggConfig, n: number): number {
  return (config.neighbours === null ? n - 1 : Math.min(config.neighbours, n - 1)) + 1;
}

/**
 * t must lie in (m/2, m] for a neighbourhood of m sites. The upper end: t shares must exist.
 * The lower end: two disjoint groups of t sites cannot both exist, so a server that told some
 * neighbours "v dropped" and others "v survived" can never gather both v's key and v's self
 * seed (which together would unmask v's input).
 */
export function checkThreshold(config: SecAggConfig, n: number): void {
  const m = neighbourhoodSize(config, n);
  const t = config.threshold;
  if (!Number.isInteger(t) || t <= m / 2 || t > m) {
    throw new SecAggError(
      `threshold ${t} must be an integer in (${m / 2}, ${m}] for neighbourhoods of ${m} sites (${n} advertised keys)`,
      'SECAGG_THRESHOLD',
    );
  }
}

export function checkConfig(config: SecAggConfig): void {
  checkRingBits(config.ringBits);
  if (!Number.isInteger(config.vectorLength) || config.vectorLength < 1) {
    throw new SecAggError(
      `vectorLength must be a positive integer (got ${config.vectorLength})`,
      'SECAGG_CONFIG',
    );
  }
  if (typeof config.roundId !== 'string' || config.roundId.length === 0) {
    throw new SecAggError('roundId must be a non-empty string', 'SECAGG_CONFIG');
  }
}

/** +1 when `a` adds the pair's mask, −1 when it subtracts it: the smaller id adds. */
export function pairSign(a: string, b: string): 1 | -1 {
  return a < b ? 1 : -1;
}
