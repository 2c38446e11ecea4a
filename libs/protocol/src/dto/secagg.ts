import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsInt,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { PUBLIC_KEY_PATTERN } from '../version';
import { RunScopedBody } from './messages';
import { IsMetricMap, IsProtocolId } from './validators';

/**
 * The secure-aggregation messages of protocol 1.2 (docs/PROTOCOL.md §10), each the body of a
 * signed envelope scoped to the site's task like an update: the SecAgg rounds of Bonawitz et al.
 * with libs/federated's `SecAggSite`/`SecAggServer` doing the arithmetic. Binary values travel as
 * base64 (keys, sealed shares) or hex (revealed shares); the masked vector is a transfer payload.
 *
 *   site → coordinator   secagg-keys           after training: two X25519 public keys (+ clear metrics)
 *   coordinator → site   secagg-directory      every site's keys (the set U1)
 *   site → coordinator   secagg-shares         key shares, each sealed for one neighbour
 *   coordinator → site   secagg-inbox          the sealed shares addressed to this site
 *   site → coordinator   secagg-masked         (transfer) the masked input, packed ring elements
 *   coordinator → site   secagg-unmask-request who sent an input (U3), who dropped
 *   site → coordinator   secagg-unmask         the shares the coordinator may have
 */

/** Longest base64 sealed share: a nonce, a MAC and ~450 bytes of share JSON fit well within it. */
export const MAX_SEALED_SHARE_CHARS = 2048;
/** Most sites one SecAgg message may name (the coordinator's neighbourhoods are smaller). */
export const MAX_SECAGG_SITES = 1000;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
/** A Shamir share's y over GF(2^521 − 1): 66 bytes, lowercase hex. */
const SHARE_HEX = /^[0-9a-f]{132}$/;

/** Every SecAgg body names its session (the task's `config.secureAggregation.sessionId`). */
export abstract class SecAggBody extends RunScopedBody {
  @IsProtocolId()
  sessionId!: string;
}

export class KeyAdvertDto {
  @IsProtocolId()
  siteId!: string;

  /** c^PK: seals the shares sent to this site. */
  @Matches(PUBLIC_KEY_PATTERN, { message: '$property must be a base64 32-byte key' })
  encryptionKey!: string;

  /** s^PK: agrees pairwise mask seeds. */
  @Matches(PUBLIC_KEY_PATTERN, { message: '$property must be a base64 32-byte key' })
  maskingKey!: string;
}

/** site → coordinator, `secagg-keys`: the site trained and joins the round with two public keys. */
export class SecAggKeysBody extends SecAggBody {
  @Matches(PUBLIC_KEY_PATTERN, { message: '$property must be a base64 32-byte key' })
  encryptionKey!: string;

  @Matches(PUBLIC_KEY_PATTERN, { message: '$property must be a base64 32-byte key' })
  maskingKey!: string;

  /** The training metrics a clear update would carry (loss…): in clear, as documented. */
  @IsMetricMap(64)
  metrics!: Record<string, number>;
}

/** coordinator → site, `secagg-directory`: U1, sorted by site id. */
export class SecAggDirectoryBody extends SecAggBody {
  @IsArray()
  @ArrayMinSize(2)
  @ArrayMaxSize(MAX_SECAGG_SITES)
  @ValidateNested({ each: true })
  @Type(() => KeyAdvertDto)
  sites!: KeyAdvertDto[];
}

export class OutgoingShareDto {
  @IsProtocolId()
  to!: string;

  @IsString()
  @MaxLength(MAX_SEALED_SHARE_CHARS)
  @Matches(BASE64, { message: '$property must be base64' })
  ciphertext!: string;
}

/** site → coordinator, `secagg-shares`: one sealed share per neighbour. */
export class SecAggSharesBody extends SecAggBody {
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_SECAGG_SITES)
  @ValidateNested({ each: true })
  @Type(() => OutgoingShareDto)
  shares!: OutgoingShareDto[];
}

export class IncomingShareDto {
  @IsProtocolId()
  from!: string;

  @IsString()
  @MaxLength(MAX_SEALED_SHARE_CHARS)
  @Matches(BASE64, { message: '$property must be base64' })
  ciphertext!: string;
}

/** coordinator → site, `secagg-inbox`: the shares its neighbours sealed for it (from U2). */
export class SecAggInboxBody extends SecAggBody {
  @IsArray()
  @ArrayMaxSize(MAX_SECAGG_SITES)
  @ValidateNested({ each: true })
  @Type(() => IncomingShareDto)
  shares!: IncomingShareDto[];
}

/**
 * site → coordinator, `secagg-masked` (a transfer): the payload is the masked input, `vectorLength`
 * little-endian ring elements of ⌈ringBits/8⌉ bytes each.
 */
export class SecAggMaskedBody extends SecAggBody {
  @IsInt()
  @Min(8)
  @Max(52)
  ringBits!: number;

  @IsInt()
  @Min(1)
  @Max(1_000_000_000)
  vectorLength!: number;
}

/** coordinator → site, `secagg-unmask-request`: U3 and U2 \ U3. */
export class SecAggUnmaskRequestBody extends SecAggBody {
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_SECAGG_SITES)
  @IsProtocolId({ each: true })
  survivors!: string[];

  @IsArray()
  @ArrayMaxSize(MAX_SECAGG_SITES)
  @IsProtocolId({ each: true })
  dropped!: string[];
}

export class RevealedShareDto {
  /** Whose secret this is a share of. */
  @IsProtocolId()
  of!: string;

  @IsInt()
  @Min(1)
  @Max(100_000)
  x!: number;

  @Matches(SHARE_HEX, { message: '$property must be 132 lowercase hex characters' })
  y!: string;
}

/** site → coordinator, `secagg-unmask`: self-seed shares of survivors, key shares of the dropped. */
export class SecAggUnmaskBody extends SecAggBody {
  @IsArray()
  @ArrayMaxSize(MAX_SECAGG_SITES)
  @ValidateNested({ each: true })
  @Type(() => RevealedShareDto)
  selfSeedShares!: RevealedShareDto[];

  @IsArray()
  @ArrayMaxSize(MAX_SECAGG_SITES)
  @ValidateNested({ each: true })
  @Type(() => RevealedShareDto)
  maskingKeyShares!: RevealedShareDto[];
}
