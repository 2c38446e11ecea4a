import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  registerDecorator,
  ValidateNested,
  ValidationArguments,
} from 'class-validator';
import { CROSS_SITE_MODELS, CrossSiteModels } from '../../../../../libs/federated/src/engine/schedule';
import { OPTIMISER_NAMES } from '../../../../../libs/protocol/src/optimisers';
import { DIGEST_PATTERN, MAX_COMPARED_MODELS } from '../../../../../libs/protocol/src/version';
import { PrivacyDto } from './privacy.dto';

/**
 * The run plan: what an admin submits (JSON or YAML) to create a run. Every number is bounded so
 * that a typo (`rounds: 10000`, `lr: 10`) is refused with the field's name instead of tying up
 * the consortium for a week. Field names match `configs/plans/*.yaml`.
 */

const ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export const PLAN_STRATEGY_NAMES = ['fedavg', 'fedprox', 'fedadam', 'fedbn'] as const;
export const PLAN_ENCODINGS = ['float32', 'float16', 'int8'] as const;

export class OptimiserDto {
  @ApiProperty({ enum: OPTIMISER_NAMES })
  @IsIn(OPTIMISER_NAMES)
  name!: (typeof OPTIMISER_NAMES)[number];

  @ApiProperty({ minimum: 1e-7, maximum: 1, example: 0.001 })
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(1e-7)
  @Max(1)
  lr!: number;

  @ApiPropertyOptional({ minimum: 0, maximum: 1, default: 0 })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(1)
  weightDecay?: number;
}

class StageDto {
  @ApiProperty({ minimum: 1, maximum: 1000, description: 'federated rounds of this stage' })
  @IsInt()
  @Min(1)
  @Max(1000)
  rounds!: number;

  @ApiProperty({ minimum: 1, maximum: 100, description: 'epochs each site trains per round' })
  @IsInt()
  @Min(1)
  @Max(100)
  localEpochs!: number;

  @ApiProperty({ type: OptimiserDto })
  @IsObject()
  @ValidateNested()
  @Type(() => OptimiserDto)
  optimiser!: OptimiserDto;

  @ApiProperty({ minimum: 1, maximum: 1024 })
  @IsInt()
  @Min(1)
  @Max(1024)
  batchSize!: number;

  @ApiPropertyOptional({
    minimum: 0,
    maximum: 100,
    default: 0,
    description: "LR warm-up at the start of the stage's one schedule, in epochs (`train` warms up for 1)",
  })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(100)
  warmupEpochs?: number;
}

export class SslStageDto extends StageDto {
  @ApiProperty({ minimum: 0.05, maximum: 0.95, example: 0.6, description: 'share of 8×8 patches masked (FCMAE)' })
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0.05)
  @Max(0.95)
  maskRatio!: number;
}

export class FinetuneStageDto extends StageDto {
  @ApiPropertyOptional({ minimum: 0, maximum: 100, default: 0, description: 'epochs with the encoder frozen first' })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(100)
  frozenEncoderWarmupEpochs?: number;
}

export class StagesDto {
  @ApiPropertyOptional({ type: SslStageDto, description: 'omit to skip self-supervised pre-training' })
  @IsOptional()
  @ValidateNested()
  @Type(() => SslStageDto)
  ssl?: SslStageDto;

  @ApiPropertyOptional({ type: FinetuneStageDto, description: 'omit to skip fine-tuning' })
  @IsOptional()
  @ValidateNested()
  @Type(() => FinetuneStageDto)
  finetune?: FinetuneStageDto;
}

/**
 * Strategy parameters (all optional, defaults in libs/federated). Which ones apply depends on
 * the strategy; the plan check refuses one that does not (e.g. `mu` for fedavg).
 */
export class StrategyParamsDto {
  @ApiPropertyOptional({ description: 'fedprox: proximal weight μ ≥ 0' })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(100)
  mu?: number;

  @ApiPropertyOptional({ description: 'fedadam: server learning rate η' })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  eta?: number;

  @ApiPropertyOptional({ description: 'fedadam: β₁ in [0, 1)' })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  beta1?: number;

  @ApiPropertyOptional({ description: 'fedadam: β₂ in [0, 1)' })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  beta2?: number;

  @ApiPropertyOptional({ description: 'fedadam: adaptivity τ > 0' })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  tau?: number;

  @ApiPropertyOptional({ description: 'fedadam: Adam-style bias correction' })
  @IsOptional()
  @IsBoolean()
  biasCorrection?: boolean;

  @ApiPropertyOptional({ enum: ['weights', 'delta'], description: 'what sites send (default delta)' })
  @IsOptional()
  @IsIn(['weights', 'delta'])
  updateKind?: 'weights' | 'delta';

  @ApiPropertyOptional({ description: 'regular expression of tensor names that never leave a site' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  keepLocal?: string;
}

export class StrategyDto {
  @ApiProperty({ enum: PLAN_STRATEGY_NAMES })
  @IsIn(PLAN_STRATEGY_NAMES)
  name!: (typeof PLAN_STRATEGY_NAMES)[number];

  @ApiPropertyOptional({ type: StrategyParamsDto })
  @IsOptional()
  @ValidateNested()
  @Type(() => StrategyParamsDto)
  params?: StrategyParamsDto;
}

export class QuorumDto {
  @ApiProperty({ minimum: 1, maximum: 1000, description: 'valid updates needed to close a round' })
  @IsInt()
  @Min(1)
  @Max(1000)
  minSites!: number;
}

export class EvaluationPlanDto {
  @ApiProperty({ description: 'every site evaluates the final global model on its test split' })
  @IsBoolean()
  final!: boolean;

  @ApiPropertyOptional({ minimum: 0, maximum: 1000, default: 0, description: 'also evaluate every k rounds (0 = never)' })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(1000)
  everyKRounds?: number;

  @ApiPropertyOptional({ default: false, description: "every site's local model evaluated at every other site" })
  @IsOptional()
  @IsBoolean()
  crossSite?: boolean;

  @ApiPropertyOptional({
    enum: CROSS_SITE_MODELS,
    default: 'global-finetuned',
    description:
      "the cross-site matrix's models: each site's last federated round (the global it trained from plus its update), or local-only — each site's model trained on its own data alone from initialModel in one task after the final evaluation (with an SSL stage, first that stage's whole budget on its own images, then the whole fine-tune budget, each rounds × localEpochs epochs), never folded into the global",
  })
  @IsOptional()
  @IsIn(CROSS_SITE_MODELS)
  crossSiteModels?: CrossSiteModels;

  @ApiPropertyOptional({
    minimum: 0,
    maximum: 1,
    description:
      'a fixed operating point (score ≥ threshold = positive) at which every site reports sensitivity, specificity, PPV, NPV and accuracy; absent: each site chooses it on its validation split (a local model in the cross-site matrix: on its own site’s validation split)',
  })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(1)
  threshold?: number;

  @ApiPropertyOptional({
    minimum: 1,
    maximum: 1024,
    description:
      "the batch size of evaluation tasks (a site scores at most 8 patients at a time); absent: the fine-tune stage's (else the SSL stage's, else 1). A plan without stages that re-evaluates another run's model sets it to that run's, so the sites score exactly as they did",
  })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1024)
  batchSize?: number;

  @ApiPropertyOptional({
    type: [String],
    maxItems: MAX_COMPARED_MODELS,
    description:
      'models (SHA-512 digests uploaded with POST /models, e.g. a centrally trained one) that the final global is compared with at the end of the run: every site scores both on the same test patients and returns only the DeLong aggregates of the pair (protocol 1.3); the results give the fixed-effect difference with 95 % CI, p, Q and I²',
  })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_COMPARED_MODELS)
  @ArrayUnique()
  @Matches(DIGEST_PATTERN, { each: true, message: '$property must hold SHA-512 digests in lowercase hex' })
  compareWith?: string[];
}

export class RunPlanDto {
  @ApiPropertyOptional({ maxLength: 200, example: 'quick demo' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  name?: string;

  @ApiProperty({ type: StagesDto })
  @IsObject()
  @ValidateNested()
  @Type(() => StagesDto)
  stages!: StagesDto;

  @ApiProperty({ type: StrategyDto })
  @IsObject()
  @ValidateNested()
  @Type(() => StrategyDto)
  strategy!: StrategyDto;

  @ApiProperty({ type: QuorumDto })
  @IsObject()
  @ValidateNested()
  @Type(() => QuorumDto)
  quorum!: QuorumDto;

  @ApiProperty({ minimum: 10, maximum: 7 * 24 * 3600, description: 'a round closes at this deadline with what arrived (the local-only round of evaluation.crossSiteModels gets one per training round it stands for: SSL + fine-tune rounds)' })
  @IsInt()
  @Min(10)
  @Max(7 * 24 * 3600)
  roundDeadlineSeconds!: number;

  @ApiPropertyOptional({ minimum: 0, maximum: 10, default: 0, description: 'times a failed round is retried' })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(10)
  maxRetries?: number;

  @ApiProperty({ enum: PLAN_ENCODINGS, description: 'how sites encode their updates' })
  @IsIn(PLAN_ENCODINGS)
  encoding!: (typeof PLAN_ENCODINGS)[number];

  @ApiProperty({ type: EvaluationPlanDto })
  @IsObject()
  @ValidateNested()
  @Type(() => EvaluationPlanDto)
  evaluation!: EvaluationPlanDto;

  @ApiPropertyOptional({
    description: '"all" enrolled (not revoked) sites, or a list of site ids',
    oneOf: [{ type: 'string', enum: ['all'] }, { type: 'array', items: { type: 'string' } }],
    default: 'all',
  })
  @IsOptional()
  @IsSitesSelection()
  sites?: 'all' | string[];

  @ApiPropertyOptional({
    pattern: '^[0-9a-f]{128}$',
    description: 'digest of a stored model to start from (required when no stage trains a head but evaluation runs)',
  })
  @IsOptional()
  @Matches(/^[0-9a-f]{128}$/, { message: 'initialModel must be a SHA-512 digest in lowercase hex' })
  initialModel?: string;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    description:
      "the network config the sites train (libs/model ModelConfig), recorded with the run so that its models can be exported (`phcc-fed models export`) and used; the coordinator does not read it",
  })
  @IsOptional()
  @IsObject()
  @IsSmallJson(16_384)
  model?: Record<string, unknown>;

  @ApiPropertyOptional({
    type: [String],
    example: ['pre', 'arterial', 'portal_venous', 'delayed'],
    description: "the DCE phases the model takes, in acquisition order (its config's phaseNames); default: the model's six",
  })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(16)
  @IsString({ each: true })
  @Matches(/^[a-z0-9][a-z0-9_-]{0,31}$/i, { each: true, message: 'each phase name must be 1-32 letters, digits, _ or -' })
  phases?: string[];

  @ApiProperty({ minimum: 0, maximum: 2 ** 31 - 1, description: 'seeds every random choice of the run' })
  @IsInt()
  @Min(0)
  @Max(2 ** 31 - 1)
  seed!: number;

  @ApiPropertyOptional({ type: PrivacyDto, description: 'secure aggregation, DP, private evaluation (docs/PRIVACY.md)' })
  @IsOptional()
  @ValidateNested()
  @Type(() => PrivacyDto)
  privacy?: PrivacyDto;
}

/** `sites`: the string "all" or 1–1000 distinct site ids. */
function IsSitesSelection() {
  return (target: object, propertyName: string) =>
    registerDecorator({
      name: 'isSitesSelection',
      target: target.constructor,
      propertyName,
      validator: {
        validate: (value: unknown) =>
          value === 'all' ||
          (Array.isArray(value) &&
            value.length >= 1 &&
            value.length <= 1000 &&
            new Set(value).size === value.length &&
            value.every((id) => typeof id === 'string' && ID.test(id))),
        defaultMessage: (args?: ValidationArguments) =>
          `${args?.property ?? 'sites'} must be "all" or a list of distinct site ids (a-z 0-9 . _ -)`,
      },
    });
}

/** A free-form object kept with the plan, bounded in size so a plan stays a plan. */
function IsSmallJson(maxBytes: number) {
  return (target: object, propertyName: string): void => {
    registerDecorator({
      name: 'isSmallJson',
      target: target.constructor,
      propertyName,
      validator: {
        validate: (value: unknown) => value === undefined || JSON.stringify(value).length <= maxBytes,
        defaultMessage: (args?: ValidationArguments) => `${args?.property} must be at most ${maxBytes} bytes of JSON`,
      },
    });
  };
}
