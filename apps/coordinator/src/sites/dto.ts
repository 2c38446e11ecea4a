import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { AgentFacts } from '../../../../libs/protocol/src';
import { IsBoolean, IsNotEmpty, IsOptional, IsString, Matches, MaxLength } from 'class-validator';

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

/** A hospital's key made at the hospital (`phcc-fed keys init`), enrolled by the operator. */
export class EnrolSiteDto {
  @ApiProperty({ example: 'hospital-a' })
  @Matches(/^[a-z0-9][a-z0-9._-]{0,63}$/, { message: 'id must be a site id (a-z 0-9 . _ -, at most 64)' })
  id!: string;

  @ApiProperty({ description: 'Ed25519 public key, base64 (32 bytes)' })
  @Matches(/^[A-Za-z0-9+/]{43}=$/, { message: 'publicKey must be a 32-byte Ed25519 key in base64' })
  publicKey!: string;

  @ApiProperty({ description: 'the fingerprint the hospital read out over the phone; must match publicKey' })
  @Matches(/^[0-9a-f]{4}(:[0-9a-f]{4}){7}$/, { message: 'fingerprint must look like abcd:ef01:… (8 groups)' })
  fingerprint!: string;

  @ApiPropertyOptional({ description: 'replace the key of an enrolled site (key rotation)' })
  @IsOptional()
  @IsBoolean()
  replace?: boolean;
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
  @ApiPropertyOptional({
    description: "offline sites: when the site's last connection since this coordinator started closed",
  })
  lastSeenAt?: string;
  @ApiPropertyOptional({
    description: 'latest status message of the live connection (offline sites: of the last one)',
  })
  lastStatus?: {
    state: string;
    runId?: string;
    round?: number;
    progress?: number;
    message?: string;
    at: string;
  };
  @ApiPropertyOptional({
    description:
      "what the live connection's agent (offline sites: the last one's) reported: phcc-fed version, compute backend, and the cohort's patient counts by split if the site chose to report them (agent --report-cohort)",
  })
  agent?: AgentFacts;
}
