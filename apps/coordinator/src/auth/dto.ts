import { ApiProperty } from '@nestjs/swagger';
import { IsIn, IsNotEmpty, IsString, Matches, MaxLength } from 'class-validator';
import { ACCESS_ROLES, AccessRole } from './access-tokens';

export class IssueTokenDto {
  @ApiProperty({ enum: ACCESS_ROLES, example: 'observer' })
  @IsIn(ACCESS_ROLES)
  role!: AccessRole;

  @ApiProperty({ example: 'tumour board, Hospital A', maxLength: 200 })
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  label!: string;
}

export class TokenIdParamDto {
  @ApiProperty({ example: 'o-1a2b3c4d' })
  @Matches(/^[a-z0-9-]{1,32}$/, { message: 'id must be a token id (a-z 0-9 -, at most 32)' })
  id!: string;
}
