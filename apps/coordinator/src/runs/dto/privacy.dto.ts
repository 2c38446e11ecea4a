import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsOptional,
  Max,
  Min,
  registerDecorator,
  ValidateNested,
  ValidationArguments,
} from 'class-validator';

/**
 * The plan's `privacy` section (docs/PRIVACY.md). Imported by the run plan DTO when privacy is
 * wired into rounds; until then it validates on its own (privacy.dto.spec.ts).
 *
 *   privacy:
 *     secureAggregation: true
 *     threshold: 3            # t: shares needed to unmask (per neighbourhood)
 *     neighbours: 10          # optional SecAgg+ degree (even); absent = every site
 *     dp: { clip: 1.0, noiseMultiplier: 1.1, delta: 1.0e-5, noise: distributed, adaptive: false }
 *     evaluation: { minBinCount: 5 }
 */
export const NOISE_PLACEMENTS = ['central', 'distributed'] as const;

/** Runs the check with the whole object in hand; the message names the property. */
function Check(check: (value: unknown, object: Record<string, unknown>) => string | null) {
  return (target: object, propertyName: string) =>
    registerDecorator({
      name: 'privacyCrossField',
      target: target.constructor,
      propertyName,
      validator: {
        validate: (value: unknown, args?: ValidationArguments) => check(value, (args?.object ?? {}) as Record<string, unknown>) === null,
        defaultMessage: (args?: ValidationArguments) =>
          check(args?.value, (args?.object ?? {}) as Record<string, unknown>) ?? `${args?.property} is inconsistent`,
      },
    });
}

export class DifferentialPrivacyDto {
  @ApiProperty({ description: 'L2 norm every site update is clipped to (initial clip when adaptive)', minimum: 1e-6, maximum: 1e3 })
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(1e-6)
  @Max(1e3)
  clip!: number;

  @ApiPropertyOptional({ description: 'σ/clip of the Gaussian noise; give this or targetEpsilon', minimum: 0, maximum: 1e3 })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(1e3)
  noiseMultiplier?: number;

  @ApiPropertyOptional({ description: 'ε the whole run may spend at `delta`; the noise multiplier is derived', minimum: 0.01, maximum: 100 })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0.01)
  @Max(100)
  targetEpsilon?: number;

  @ApiProperty({ description: 'δ of the (ε, δ) guarantee; well below 1/number of sites', minimum: 1e-12, maximum: 0.01 })
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(1e-12)
  @Max(0.01)
  delta!: number;

  @ApiPropertyOptional({ enum: NOISE_PLACEMENTS, description: 'who adds the noise (default: distributed with secure aggregation)' })
  @IsOptional()
  @IsIn(NOISE_PLACEMENTS)
  noise?: (typeof NOISE_PLACEMENTS)[number];

  @ApiPropertyOptional({ description: 'adaptive clipping to a quantile of update norms (Andrew et al. 2021)', default: false })
  @IsOptional()
  @IsBoolean()
  adaptive?: boolean;

  @ApiPropertyOptional({ description: 'adaptive clipping: quantile of update norms to track', minimum: 0.05, maximum: 0.95, default: 0.5 })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0.05)
  @Max(0.95)
  @Check((v, o) => (v !== undefined && o.adaptive !== true ? 'targetQuantile needs adaptive: true' : null))
  targetQuantile?: number;
}

export class PrivateEvaluationDto {
  @ApiPropertyOptional({ description: 'fewest patients a released histogram bin may hold (k)', minimum: 1, maximum: 1000, default: 5 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1000)
  minBinCount?: number;
}

export class PrivacyDto {
  @ApiProperty({ description: 'sites mask their updates; the coordinator learns only the sum' })
  @IsBoolean()
  @Check((v, o) => (v === true && o.threshold === undefined ? 'secureAggregation needs a threshold' : null))
  secureAggregation!: boolean;

  @ApiPropertyOptional({ description: 'secure aggregation: shares needed to unmask, counted per neighbourhood', minimum: 2, maximum: 1000 })
  @IsOptional()
  @IsInt()
  @Min(2)
  @Max(1000)
  @Check((v, o) => (v !== undefined && o.secureAggregation !== true ? 'threshold needs secureAggregation: true' : null))
  threshold?: number;

  @ApiPropertyOptional({ description: 'SecAgg+ neighbour degree (even); absent = complete graph', minimum: 2, maximum: 1000 })
  @IsOptional()
  @IsInt()
  @Min(2)
  @Max(1000)
  @Check((v, o) =>
    v !== undefined && (o.secureAggregation !== true || (v as number) % 2 !== 0)
      ? 'neighbours must be even and needs secureAggregation: true'
      : null,
  )
  neighbours?: number;

  @ApiPropertyOptional({ type: DifferentialPrivacyDto })
  @IsOptional()
  @ValidateNested()
  @Type(() => DifferentialPrivacyDto)
  @Check((v, o) => {
    const dp = v as DifferentialPrivacyDto | undefined;
    if (dp && (dp.noiseMultiplier === undefined) === (dp.targetEpsilon === undefined)) {
      return 'dp needs exactly one of noiseMultiplier and targetEpsilon';
    }
    return dp?.noise === 'distributed' && o.secureAggregation !== true
      ? 'dp.noise "distributed" needs secureAggregation: true (each update would carry only part of the noise)'
      : null;
  })
  dp?: DifferentialPrivacyDto;

  @ApiPropertyOptional({ type: PrivateEvaluationDto })
  @IsOptional()
  @ValidateNested()
  @Type(() => PrivateEvaluationDto)
  evaluation?: PrivateEvaluationDto;
}
