import { IsInt, Matches, Max, Min } from 'class-validator';
import { IsBinary, IsPlainRecord } from '../dto/validators';
import { MAX_CHUNK_BYTES } from '../version';

/** Event names of the chunked transfer (each acknowledged). */
export const TRANSFER_EVENTS = {
  begin: 'transfer:begin',
  chunk: 'transfer:chunk',
  end: 'transfer:end',
} as const;

export const TRANSFER_ID_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;

/** `transfer:begin`: the signed envelope first, so the receiver can refuse before any bytes move. */
export class TransferBeginDto {
  @Matches(TRANSFER_ID_PATTERN)
  transferId!: string;

  @IsPlainRecord()
  envelope!: Record<string, unknown>;

  @IsInt()
  @Min(1)
  @Max(MAX_CHUNK_BYTES)
  chunkBytes!: number;

  @IsInt()
  @Min(1)
  @Max(10_000_000)
  chunkCount!: number;
}

/** `transfer:chunk` (the "update chunk" message): bytes [index·chunkBytes, …) of the payload. */
export class TransferChunkDto {
  @Matches(TRANSFER_ID_PATTERN)
  transferId!: string;

  @IsInt()
  @Min(0)
  @Max(10_000_000)
  index!: number;

  @IsBinary(MAX_CHUNK_BYTES)
  data!: Uint8Array;
}

/** `transfer:end`: every chunk was acknowledged; check the digest and deliver. */
export class TransferEndDto {
  @Matches(TRANSFER_ID_PATTERN)
  transferId!: string;
}
