import { IsInt, IsNumber, IsOptional, Max, Min } from 'class-validator';
import { IsProtocolId } from './validators';

/**
 * Protocol 1.2: a training task's secure-aggregation settings (docs/PROTOCOL.md §10). Present =
 * the site never sends its update in clear: it takes part in the four SecAgg steps instead, and
 * only the sum over sites ever reaches the coordinator.
 */
export class SecureAggregationConfigDto {
  /** Names this attempt's session: keys, seeds and masks are bound to it. */
  @IsProtocolId()
  sessionId!: string;

  /** t: shares needed to unmask, counted in each site's neighbourhood (itself included). */
  @IsInt()
  @Min(2)
  @Max(1000)
  threshold!: number;

  /** SecAgg+ neighbour degree (even); absent = every site is every site's neighbour. */
  @IsOptional()
  @IsInt()
  @Min(2)
  @Max(1000)
  neighbours?: number;

  /** The ring Z_2^ringBits in which masked inputs are summed. */
  @IsInt()
  @Min(8)
  @Max(52)
  ringBits!: number;

  /** Fixed point: a value v travels as round(v·2^fractionBits) mod 2^ringBits. */
  @IsInt()
  @Min(8)
  @Max(51)
  fractionBits!: number;

  /** Largest |weight·value| a site encodes; it clips to it. */
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(1)
  @Max(1_048_576)
  maxAbs!: number;

  /** A site's weight is min(1, nSamples / weightCap). */
  @IsInt()
  @Min(1)
  @Max(10_000_000)
  weightCap!: number;
}
