import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsNotEmpty, IsString, Matches, MaxLength } from 'class-validator';

export class SiteIdParamDto {
  @ApiProperty({ example: 'hospital-a' })
  @Matches(/^[a-z0-9][a-z0-9._-]{0,63}$/, { message: 'id must be a site id (a-z 0-9 . _ -, at most 64)' })
  id!: string;
}

export class RevokeSiteDto {
  @ApiProperty({ example: 'laptop with the site key was lost', maxLength: 500 })
  @IsString()
  @IsNotEmpty()
  @MaxLength(500)
  reason!: string;
}

export class SiteView {
  @ApiProperty() id!: string;
  @ApiProperty({ description: 'Ed25519 public key, base64' }) publicKey!: string;
  @ApiProperty({ description: 'what operators compare by phone' }) fingerprint!: string;
  @ApiProperty() enrolledAt!: string;
  @ApiPropertyOptional() revokedAt?: string;
  @ApiPropertyOptional() revokedReason?: string;
  @ApiProperty() revoked!: boolean;
  @ApiProperty({ description: 'connected to the /sites gateway right now' }) connected!: boolean;
  @ApiPropertyOptional() connectedAt?: string;
  @ApiPropertyOptional({ description: 'latest status message of the live connection' })
  lastStatus?: {
    state: string;
    runId?: string;
    round?: number;
    progress?: number;
    message?: string;
    at: string;
  };
}
