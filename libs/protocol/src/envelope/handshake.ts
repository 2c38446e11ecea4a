import { parseMessage } from '../dto/parse';
import { HandshakeAuthDto, WelcomeBody } from '../dto/messages';
import { fail, ok, ProtocolResult } from '../errors';
import { COORDINATOR_ID, HANDSHAKE_SIGNING_PREFIX, PROTOCOL_VERSION, SITES_NAMESPACE } from '../version';
import { canonicalJson } from './canonical';
import { newNonce } from './digest';
import { Envelope, signEnvelope } from './envelope';
import { fromBase64, SIGNATURE_BYTES, signBytes, toBase64, verifyBytes } from './keys';
import { Keyring } from './keyring';
import { MAX_FUTURE_MS, NonceCache } from './nonce-cache';
import { EnvelopeVerifier } from './verifier';

export interface HandshakeAuth {
  v: number;
  siteId: string;
  timestamp: number;
  nonce: string;
  signature: string;
}

/**
 * The bytes a site signs to connect: `"phcc-fed/handshake/v1\n"` + canonical JSON of
 * `{ audience, namespace, nonce, siteId, timestamp, v }`. `audience` is the coordinator's public
 * key (base64), so a handshake captured by (or sent to) another server is useless anywhere else.
 */
export function handshakeSigningBytes(
  auth: Omit<HandshakeAuth, 'signature'>,
  coordinatorPublicKey: Uint8Array,
  namespace = SITES_NAMESPACE,
): Uint8Array {
  const { v, siteId, timestamp, nonce } = auth;
  const signed = { audience: toBase64(coordinatorPublicKey), namespace, nonce, siteId, timestamp, v };
  return Buffer.from(HANDSHAKE_SIGNING_PREFIX + canonicalJson(signed), 'utf8');
}

/** What a site agent passes as socket.io's `auth` when it connects. */
export function signHandshake(
  siteId: string,
  siteSecretKey: Uint8Array,
  coordinatorPublicKey: Uint8Array,
  options: { now?: number; nonce?: string; namespace?: string } = {},
): HandshakeAuth {
  const unsigned = {
    v: PROTOCOL_VERSION,
    siteId,
    timestamp: options.now ?? Date.now(),
    nonce: options.nonce ?? newNonce(),
  };
  const bytes = handshakeSigningBytes(unsigned, coordinatorPublicKey, options.namespace);
  return { ...unsigned, signature: toBase64(signBytes(bytes, siteSecretKey)) };
}

export interface HandshakeVerifierOptions {
  keyring: Keyring;
  coordinatorPublicKey: Uint8Array;
  nonceCache: NonceCache;
  clockSkewMs?: number;
  namespace?: string;
  now?: () => number;
}

/** Coordinator side: returns the authenticated site id, or why the connection is refused. */
export function verifyHandshake(
  raw: unknown,
  options: HandshakeVerifierOptions,
): ProtocolResult<HandshakeAuth> {
  try {
    const version = (raw as { v?: unknown } | null)?.v;
    if (typeof version === 'number' && version !== PROTOCOL_VERSION) {
      return fail(
        'UNSUPPORTED_VERSION',
        `protocol version ${version}; this coordinator speaks ${PROTOCOL_VERSION}`,
      );
    }
    const parsed = parseMessage(HandshakeAuthDto, raw);
    if (!parsed.ok) return parsed;
    const auth = parsed.value;
    if (auth.siteId === COORDINATOR_ID)
      return fail('UNKNOWN_SIGNER', 'sites cannot connect as the coordinator');
    if (options.keyring.isRevoked(auth.siteId))
      return fail('REVOKED_SIGNER', `site ${auth.siteId} was revoked`);
    const publicKey = options.keyring.publicKey(auth.siteId);
    if (!publicKey) return fail('UNKNOWN_SIGNER', `site ${auth.siteId} is not enrolled`);
    const signature = fromBase64(auth.signature, SIGNATURE_BYTES);
    const bytes = handshakeSigningBytes(auth, options.coordinatorPublicKey, options.namespace);
    if (!signature || !verifyBytes(bytes, signature, publicKey)) {
      return fail('BAD_SIGNATURE', `handshake signature of ${auth.siteId} does not verify`);
    }
    const now = (options.now ?? Date.now)();
    const skew = options.clockSkewMs ?? 5 * 60_000;
    if (auth.timestamp - now > Math.min(MAX_FUTURE_MS, skew)) {
      return fail(
        'STALE_TIMESTAMP',
        `handshake timestamp is more than ${MAX_FUTURE_MS / 1000} s in the future`,
      );
    }
    if (Math.abs(now - auth.timestamp) > skew) {
      return fail('STALE_TIMESTAMP', `handshake timestamp is outside ±${skew / 1000} s`);
    }
    if (options.nonceCache.check(auth.siteId, auth.nonce, auth.timestamp, now) !== 'fresh') {
      return fail('REPLAY', `handshake nonce of ${auth.siteId} was already used`);
    }
    options.nonceCache.record(auth.siteId, auth.nonce, auth.timestamp, now);
    return ok({
      v: auth.v,
      siteId: auth.siteId,
      timestamp: auth.timestamp,
      nonce: auth.nonce,
      signature: auth.signature,
    });
  } catch (err) {
    return fail(
      'INTERNAL',
      `handshake check failed unexpectedly: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}

/**
 * The coordinator's first message on a new connection: a signed `welcome` echoing the site's
 * handshake nonce, so the site knows it reached the holder of the coordinator key (not a relay).
 */
export function signWelcome(
  auth: HandshakeAuth,
  coordinatorSecretKey: Uint8Array,
  now = Date.now(),
): Envelope<'welcome'> {
  return signEnvelope({
    type: 'welcome',
    body: {
      sender: COORDINATOR_ID,
      nonce: newNonce(),
      timestamp: now,
      siteId: auth.siteId,
      handshakeNonce: auth.nonce,
    },
    signer: COORDINATOR_ID,
    secretKey: coordinatorSecretKey,
  });
}

/** Site side: the welcome must be signed by the coordinator key from the kit and answer our handshake. */
export function checkWelcome(
  raw: unknown,
  auth: HandshakeAuth,
  verifier: EnvelopeVerifier,
): ProtocolResult<true> {
  const result = verifier.verify(raw);
  if (!result.ok) return result;
  const { envelope, body } = result.value;
  if (envelope.type !== 'welcome' || envelope.signer !== COORDINATOR_ID) {
    return fail('UNEXPECTED_MESSAGE', 'expected a welcome signed by the coordinator');
  }
  const welcome = body as WelcomeBody;
  if (welcome.siteId !== auth.siteId || welcome.handshakeNonce !== auth.nonce) {
    return fail('REPLAY', 'welcome does not answer this connection handshake');
  }
  return ok(true);
}
