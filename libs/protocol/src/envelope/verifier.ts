import { parseMessage } from '../dto/parse';
import { RunScopedBody } from '../dto/messages';
import { fail, ok, ProtocolErrorCode, ProtocolResult } from '../errors';
import { PROTOCOL_VERSION, Stage } from '../version';
import { payloadDigest } from './digest';
import { BODY_TYPES, BodyOf, Envelope, EnvelopeDto, envelopeSigningBytes, MessageType } from './envelope';
import { fromBase64, SIGNATURE_BYTES, verifyBytes } from './keys';
import { Keyring } from './keyring';
import { MAX_FUTURE_MS, NonceCache } from './nonce-cache';

/** Where a message must belong; any field left out is not checked. */
export interface ExpectedScope {
  runId?: string;
  round?: number;
  taskId?: string;
  stage?: Stage;
}

export interface EnvelopeVerifierOptions {
  keyring: Keyring;
  /** The plan's limit on a payload; checked on the declared size before anything is received. */
  maxPayloadBytes: number;
  expected?: ExpectedScope;
  /** Accepted age of a message (now − timestamp); default 5 minutes. */
  clockSkewMs?: number;
  /** Accepted lead of a message's timestamp over our clock; default MAX_FUTURE_MS (30 s). */
  maxFutureMs?: number;
  /** Shared across verifiers of one receiver; default: a private cache sized for the window. */
  nonceCache?: NonceCache;
  /** Message types this receiver accepts (e.g. a coordinator takes no `task`); default: all. */
  acceptedTypes?: readonly MessageType[];
  now?: () => number;
}

export interface VerifyOptions {
  /** The binary payload, when it has arrived: length and SHA-512 are checked against the envelope. */
  payload?: Uint8Array;
  /** SHA-512 hex of `payload` if the caller already computed it (saves hashing twice). */
  payloadDigest?: string;
  /**
   * false: check that the nonce is unused but do not use it up (a transfer's header is checked
   * before its payload arrives and again, consuming the nonce, once it has). Default true.
   */
  consumeNonce?: boolean;
  /** Overrides the verifier's expected scope for this call. */
  expected?: ExpectedScope;
}

export interface VerifiedMessage<T extends MessageType = MessageType> {
  envelope: Envelope<T>;
  body: BodyOf<T>;
}

/**
 * Decides whether a signed envelope is authentic, fresh, unique and meant for this place — and
 * says precisely why not. Pure apart from its nonce cache and clock; never throws.
 */
export class EnvelopeVerifier {
  private readonly clockSkewMs: number;
  private readonly maxFutureMs: number;
  private readonly nonces: NonceCache;
  private readonly now: () => number;

  constructor(private readonly options: EnvelopeVerifierOptions) {
    this.clockSkewMs = options.clockSkewMs ?? 5 * 60_000;
    this.maxFutureMs = Math.min(options.maxFutureMs ?? MAX_FUTURE_MS, this.clockSkewMs);
    this.nonces = options.nonceCache ?? new NonceCache(this.clockSkewMs);
    this.now = options.now ?? Date.now;
  }

  verify(raw: unknown, options: VerifyOptions = {}): ProtocolResult<VerifiedMessage> {
    try {
      return this.verifyUnsafe(raw, options);
    } catch (err) {
      return fail(
        'INTERNAL',
        `verification failed unexpectedly: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }

  private verifyUnsafe(raw: unknown, options: VerifyOptions): ProtocolResult<VerifiedMessage> {
    const version = (raw as { v?: unknown } | null)?.v;
    if (typeof version === 'number' && version !== PROTOCOL_VERSION) {
      return fail('UNSUPPORTED_VERSION', `protocol version ${version}; this end speaks ${PROTOCOL_VERSION}`);
    }
    const parsed = parseMessage(EnvelopeDto, raw, { maxNodes: 50_000 });
    if (!parsed.ok) return parsed;
    const envelope = parsed.value;
    const { acceptedTypes } = this.options;
    if (acceptedTypes && !acceptedTypes.includes(envelope.type)) {
      return fail('UNEXPECTED_MESSAGE', `a ${envelope.type} message is not accepted here`);
    }
    if ((envelope.digest === null) !== (envelope.payloadBytes === 0)) {
      return fail('MALFORMED', 'digest must be null exactly when payloadBytes is 0');
    }

    const { keyring } = this.options;
    if (keyring.isRevoked(envelope.signer))
      return fail('REVOKED_SIGNER', `signer ${envelope.signer} was revoked`);
    const publicKey = keyring.publicKey(envelope.signer);
    if (!publicKey) return fail('UNKNOWN_SIGNER', `signer ${envelope.signer} is not enrolled`);
    const signature = fromBase64(envelope.signature, SIGNATURE_BYTES);
    if (!signature || !verifyBytes(envelopeSigningBytes(envelope as Envelope), signature, publicKey)) {
      return fail('BAD_SIGNATURE', `signature does not verify with ${envelope.signer}'s key`);
    }

    const bodyResult = parseMessage<BodyOf<MessageType>>(
      BODY_TYPES[envelope.type] as new () => BodyOf<MessageType>,
      envelope.body,
      { maxNodes: 50_000 },
    );
    if (!bodyResult.ok) return bodyResult;
    const body = bodyResult.value;
    if (body.sender !== envelope.signer) {
      return fail('SENDER_MISMATCH', `body.sender ${body.sender} is not the signer ${envelope.signer}`);
    }
    const scopeProblem = this.scopeProblem(body, options.expected ?? this.options.expected);
    if (scopeProblem) return scopeProblem;

    const now = this.now();
    if (body.timestamp - now > this.maxFutureMs) {
      return fail(
        'STALE_TIMESTAMP',
        `timestamp ${body.timestamp} is ${Math.round((body.timestamp - now) / 1000)} s in the future (at most ${this.maxFutureMs / 1000} s ahead)`,
      );
    }
    if (Math.abs(now - body.timestamp) > this.clockSkewMs) {
      return fail(
        'STALE_TIMESTAMP',
        `timestamp ${body.timestamp} is ${Math.round((now - body.timestamp) / 1000)} s from now (window ±${this.clockSkewMs / 1000} s)`,
      );
    }
    const nonceState = this.nonces.check(envelope.signer, body.nonce, body.timestamp, now);
    if (nonceState !== 'fresh') {
      return fail(
        'REPLAY',
        nonceState === 'seen'
          ? `nonce ${body.nonce} of ${envelope.signer} was already used`
          : 'message predates what the replay cache still remembers',
      );
    }

    const { maxPayloadBytes } = this.options;
    if (envelope.payloadBytes > maxPayloadBytes) {
      return fail(
        'PAYLOAD_TOO_LARGE',
        `payload of ${envelope.payloadBytes} bytes exceeds the limit of ${maxPayloadBytes}`,
      );
    }
    if (envelope.type === 'task' && envelope.digest !== null) {
      // A paired evaluation (1.3) attaches a model bundle: the agent checks each model in it
      // against globalWeightsDigest and compareWith (transfer/model-bundle.ts).
      const task = body as BodyOf<'task'>;
      if (task.config.compareWith === undefined && task.globalWeightsDigest !== envelope.digest) {
        return fail('DIGEST_MISMATCH', 'task globalWeightsDigest differs from the attached payload digest');
      }
    }
    if (options.payload) {
      const payloadProblem = this.payloadProblem(envelope, options.payload, options.payloadDigest);
      if (payloadProblem) return payloadProblem;
    }

    if (options.consumeNonce !== false) this.nonces.record(envelope.signer, body.nonce, body.timestamp, now);
    return ok({ envelope: { ...envelope } as Envelope, body });
  }

  private scopeProblem(body: object, expected: ExpectedScope | undefined): ProtocolResult<never> | undefined {
    if (!expected || !(body instanceof RunScopedBody)) return undefined;
    const checks: [keyof ExpectedScope, ProtocolErrorCode][] = [
      ['runId', 'WRONG_RUN'],
      ['round', 'WRONG_ROUND'],
      ['taskId', 'WRONG_TASK'],
      ['stage', 'WRONG_STAGE'],
    ];
    for (const [field, code] of checks) {
      const want = expected[field];
      if (want !== undefined && body[field] !== want) {
        return fail(code, `${field} is ${JSON.stringify(body[field])}, expected ${JSON.stringify(want)}`);
      }
    }
    return undefined;
  }

  private payloadProblem(
    envelope: EnvelopeDto,
    payload: Uint8Array,
    knownDigest: string | undefined,
  ): ProtocolResult<never> | undefined {
    if (payload.byteLength > this.options.maxPayloadBytes) {
      return fail('PAYLOAD_TOO_LARGE', `payload of ${payload.byteLength} bytes exceeds the limit`);
    }
    if (envelope.digest === null || payload.byteLength !== envelope.payloadBytes) {
      return fail(
        'DIGEST_MISMATCH',
        `payload is ${payload.byteLength} bytes, the envelope signs ${envelope.payloadBytes}`,
      );
    }
    const digest = knownDigest ?? payloadDigest(payload);
    if (digest !== envelope.digest)
      return fail('DIGEST_MISMATCH', 'payload SHA-512 differs from the signed digest');
    return undefined;
  }
}
