import { ApiProperty } from '@nestjs/swagger';
import { Matches } from 'class-validator';

export class DigestParamDto {
  @ApiProperty({ description: 'SHA-512 of the encoded weights, lowercase hex', pattern: '^[0-9a-f]{128}$' })
  @Matches(/^[0-9a-f]{128}$/, { message: 'digest must be a SHA-512 in lowercase hex (128 characters)' })
  digest!: string;
}
