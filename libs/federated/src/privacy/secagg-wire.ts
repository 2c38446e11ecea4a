import { SecAggError } from './secagg-messages';
import type {
  KeyAdvert,
  KeyDirectory,
  MaskedInputMessage,
  RevealedShare,
  ShareInbox,
  ShareKeysMessage,
  UnmaskMessage,
  UnmaskRequest,
} from './secagg-messages';
import { packRing, unpackRing } from './ring';
import { bigintToBytes, bytesToBigint, SHARE_Y_BYTES } from './shamir';

/**
 * The SecAgg messages between their plain form (what `SecAggSite`/`SecAggServer` take) and the
 * fields of the protocol's `secagg-*` bodies (libs/protocol dto/secagg.ts, docs/PROTOCOL.md §10):
 * keys and sealed shares in base64, revealed shares' y in hex, the masked vector as packed ring
 * elements. The coordinator and the agent both convert with these, so the two ends cannot differ.
 */

export interface WireKeys {
  encryptionKey: string;
  maskingKey: string;
}
export interface WireAdvert extends WireKeys {
  siteId: string;
}
export interface WireRevealed {
  of: string;
  x: number;
  y: string;
}

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

function bytesOf(value: string, what: string, length?: number): Uint8Array {
  const bytes = new Uint8Array(Buffer.from(value, 'base64'));
  if (length !== undefined && bytes.length !== length)
    throw new SecAggError(`${what} must be ${length} bytes (got ${bytes.length})`, 'SECAGG_MALFORMED');
  return bytes;
}

export function keysToWire(advert: KeyAdvert): WireKeys {
  return { encryptionKey: b64(advert.encryptionKey), maskingKey: b64(advert.maskingKey) };
}

export function keysFromWire(siteId: string, keys: WireKeys): KeyAdvert {
  return {
    siteId,
    encryptionKey: bytesOf(keys.encryptionKey, 'encryptionKey', 32),
    maskingKey: bytesOf(keys.maskingKey, 'maskingKey', 32),
  };
}

export function directoryToWire(directory: KeyDirectory): { sites: WireAdvert[] } {
  return { sites: directory.sites.map((a) => ({ siteId: a.siteId, ...keysToWire(a) })) };
}

export function directoryFromWire(sessionId: string, sites: readonly WireAdvert[]): KeyDirectory {
  return { roundId: sessionId, sites: sites.map((s) => keysFromWire(s.siteId, s)) };
}

export function sharesToWire(message: ShareKeysMessage): { shares: { to: string; ciphertext: string }[] } {
  return { shares: message.shares.map((s) => ({ to: s.to, ciphertext: b64(s.ciphertext) })) };
}

export function sharesFromWire(
  siteId: string,
  shares: readonly { to: string; ciphertext: string }[],
): ShareKeysMessage {
  return {
    siteId,
    shares: shares.map((s) => ({ from: siteId, to: s.to, ciphertext: bytesOf(s.ciphertext, 'ciphertext') })),
  };
}

export function inboxToWire(inbox: ShareInbox): { shares: { from: string; ciphertext: string }[] } {
  return { shares: inbox.shares.map((s) => ({ from: s.from, ciphertext: b64(s.ciphertext) })) };
}

export function inboxFromWire(
  to: string,
  shares: readonly { from: string; ciphertext: string }[],
): ShareInbox {
  return {
    to,
    shares: shares.map((s) => ({ from: s.from, to, ciphertext: bytesOf(s.ciphertext, 'ciphertext') })),
  };
}

export function unmaskRequestToWire(request: UnmaskRequest): { survivors: string[]; dropped: string[] } {
  return { survivors: [...request.survivors], dropped: [...request.dropped] };
}

export function unmaskRequestFromWire(
  sessionId: string,
  body: { survivors: readonly string[]; dropped: readonly string[] },
): UnmaskRequest {
  return { roundId: sessionId, survivors: [...body.survivors], dropped: [...body.dropped] };
}

const revealedToWire = (r: RevealedShare): WireRevealed => ({
  of: r.of,
  x: r.share.x,
  y: Buffer.from(bigintToBytes(r.share.y, SHARE_Y_BYTES)).toString('hex'),
});
const revealedFromWire = (r: WireRevealed): RevealedShare => ({
  of: r.of,
  share: { x: r.x, y: bytesToBigint(Buffer.from(r.y, 'hex')) },
});

export function unmaskToWire(message: UnmaskMessage): {
  selfSeedShares: WireRevealed[];
  maskingKeyShares: WireRevealed[];
} {
  return {
    selfSeedShares: message.selfSeedShares.map(revealedToWire),
    maskingKeyShares: message.maskingKeyShares.map(revealedToWire),
  };
}

export function unmaskFromWire(
  siteId: string,
  body: { selfSeedShares: readonly WireRevealed[]; maskingKeyShares: readonly WireRevealed[] },
): UnmaskMessage {
  return {
    siteId,
    selfSeedShares: body.selfSeedShares.map(revealedFromWire),
    maskingKeyShares: body.maskingKeyShares.map(revealedFromWire),
  };
}

/** The masked vector as a transfer payload: ⌈ringBits/8⌉ little-endian bytes per element. */
export function maskedToWire(message: MaskedInputMessage, ringBits: number): Uint8Array {
  return packRing(message.masked, ringBits);
}

export function maskedFromWire(
  siteId: string,
  payload: Uint8Array,
  ringBits: number,
  length: number,
): MaskedInputMessage {
  return { siteId, masked: unpackRing(payload, ringBits, length) };
}
