import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';

export class AuditQueryDto {
  @ApiPropertyOptional({ minimum: 1, maximum: 500, default: 50 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(500)
  limit?: number;

  @ApiPropertyOptional({ description: 'entries with a smaller id than this (the next page)' })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  before?: number;

  @ApiPropertyOptional({ example: 'runs.create' })
  @IsOptional()
  @IsString()
  @MaxLength(100)
  action?: string;

  @ApiPropertyOptional({ example: 'admin:1a2b3c4d' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  actor?: string;

  @ApiPropertyOptional({ enum: ['ok', 'denied', 'rejected', 'error'] })
  @IsOptional()
  @IsIn(['ok', 'denied', 'rejected', 'error'])
  outcome?: string;

  @ApiPropertyOptional({ description: 'run id, site id or digest the action concerned' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  target?: string;
}
