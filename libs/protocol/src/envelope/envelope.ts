import { IsIn, IsInt, Matches, Max, Min, ValidateIf } from 'class-validator';
import {
  ErrorBody,
  EvalResultBody,
  StatusBody,
  TaskAckBody,
  TaskBody,
  UpdateBody,
  WelcomeBody,
} from '../dto/messages';
import {
  SecAggDirectoryBody,
  SecAggInboxBody,
  SecAggKeysBody,
  SecAggMaskedBody,
  SecAggSharesBody,
  SecAggUnmaskBody,
  SecAggUnmaskRequestBody,
} from '../dto/secagg';
import { IsPlainRecord, IsProtocolId } from '../dto/validators';
import {
  DIGEST_PATTERN,
  ENVELOPE_SIGNING_PREFIX,
  MAX_PAYLOAD_BYTES_LIMIT,
  PROTOCOL_VERSION,
  SIGNATURE_PATTERN,
} from '../version';
import { canonicalJson } from './canonical';
import { payloadDigest } from './digest';
import { signBytes, toBase64 } from './keys';

/** Message type → the DTO its body must satisfy. Also the socket.io event name it travels on. */
export const BODY_TYPES = {
  task: TaskBody,
  'task-ack': TaskAckBody,
  update: UpdateBody,
  'eval-result': EvalResultBody,
  status: StatusBody,
  error: ErrorBody,
  welcome: WelcomeBody,
  // Protocol 1.2: secure aggregation (docs/PROTOCOL.md §9).
  'secagg-keys': SecAggKeysBody,
  'secagg-directory': SecAggDirectoryBody,
  'secagg-shares': SecAggSharesBody,
  'secagg-inbox': SecAggInboxBody,
  'secagg-masked': SecAggMaskedBody,
  'secagg-unmask-request': SecAggUnmaskRequestBody,
  'secagg-unmask': SecAggUnmaskBody,
} as const;
export type MessageType = keyof typeof BODY_TYPES;
export type BodyOf<T extends MessageType> = InstanceType<(typeof BODY_TYPES)[T]>;
export const MESSAGE_TYPES = Object.keys(BODY_TYPES) as MessageType[];

/** The plain-JSON form of a body, as signed and sent (class instances are never signed). */
export type PlainBody<T extends MessageType> = Omit<BodyOf<T>, 'crossFieldProblem'>;

/**
 * What travels: `{ v, type, body, digest, payloadBytes, signer, signature }`. The signature
 * covers everything but itself (see `envelopeSigningBytes`); `digest`/`payloadBytes` describe the
 * binary payload that travels with it (null / 0 when there is none).
 */
export interface Envelope<T extends MessageType = MessageType> {
  v: number;
  type: T;
  body: PlainBody<T>;
  digest: string | null;
  payloadBytes: number;
  signer: string;
  signature: string;
}

/** The envelope's outer shape; its `body` is checked against BODY_TYPES[type] separately. */
export class EnvelopeDto {
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  v!: number;

  @IsIn(MESSAGE_TYPES)
  type!: MessageType;

  @IsPlainRecord()
  body!: Record<string, unknown>;

  @ValidateIf((_o, value) => value !== null)
  @Matches(DIGEST_PATTERN, { message: 'digest must be null or a SHA-512 digest in lowercase hex' })
  digest!: string | null;

  @IsInt()
  @Min(0)
  @Max(MAX_PAYLOAD_BYTES_LIMIT)
  payloadBytes!: number;

  @IsProtocolId()
  signer!: string;

  @Matches(SIGNATURE_PATTERN, { message: 'signature must be a base64 Ed25519 signature' })
  signature!: string;
}

export type UnsignedEnvelope = Omit<Envelope, 'signature'>;

/**
 * The exact bytes an envelope's Ed25519 signature covers: the UTF-8 encoding of
 * `"phcc-fed/envelope/v1\n"` followed by the canonical JSON of the envelope without `signature`.
 */
export function envelopeSigningBytes(envelope: UnsignedEnvelope): Uint8Array {
  const { v, type, body, digest, payloadBytes, signer } = envelope;
  return Buffer.from(
    ENVELOPE_SIGNING_PREFIX + canonicalJson({ v, type, body, digest, payloadBytes, signer }),
    'utf8',
  );
}

export interface SignRequest<T extends MessageType> {
  type: T;
  body: PlainBody<T>;
  signer: string;
  secretKey: Uint8Array;
  /** The binary payload: its SHA-512 is computed here, once. */
  payload?: Uint8Array;
  /** Or its already-known description (e.g. the codec computed the digest while encoding). */
  payloadFacts?: { digest: string; bytes: number };
  version?: number;
}

/** Builds and signs an envelope. Throws ProtocolError(MALFORMED) if the body is not plain JSON. */
export function signEnvelope<T extends MessageType>(request: SignRequest<T>): Envelope<T> {
  const facts =
    request.payloadFacts ??
    (request.payload ? { digest: payloadDigest(request.payload), bytes: request.payload.byteLength } : null);
  const unsigned = {
    v: request.version ?? PROTOCOL_VERSION,
    type: request.type,
    body: request.body,
    digest: facts ? facts.digest : null,
    payloadBytes: facts ? facts.bytes : 0,
    signer: request.signer,
  };
  const signature = toBase64(
    signBytes(envelopeSigningBytes(unsigned as UnsignedEnvelope), request.secretKey),
  );
  return { ...unsigned, signature };
}

/** Type guard helper for code that switches on the verified envelope's type. */
export function isType<T extends MessageType>(envelope: Envelope, type: T): envelope is Envelope<T> {
  return envelope.type === type;
}
