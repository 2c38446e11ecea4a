import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Matches, MaxLength } from 'class-validator';

export class RunIdParamDto {
  @ApiProperty({ example: 'r-20260101-120000-1a2b3c' })
  @Matches(/^[a-z0-9][a-z0-9._-]{0,63}$/, { message: 'id must be a run id' })
  id!: string;
}

export class StopRunDto {
  @ApiPropertyOptional({ maxLength: 500, example: 'wrong learning rate' })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  reason?: string;
}
