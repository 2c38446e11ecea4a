import { Body, Controller, Get, HttpCode, Param, Post, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { AuditAction } from '../audit/audit-action.decorator';
import { AccessTokenView } from './access-tokens';
import { AdminRequest } from './admin-request';
import { AdminAuthService, IssuedToken } from './admin-auth.service';
import { IssueTokenDto, TokenIdParamDto } from './dto';
import { AdminOnly } from './roles.decorator';

/** Access tokens: who am I (any role), and issuing, rotating and revoking tokens (admins). */
@ApiTags('auth')
@ApiBearerAuth()
@Controller('auth')
export class TokensController {
  constructor(private readonly auth: AdminAuthService) {}

  @Get('whoami')
  @ApiOkResponse({
    description: '{ actor, role } of the presented token (what the dashboard shows and hides)',
  })
  whoami(@Req() request: AdminRequest): { actor: string; role: string } {
    return { actor: request.actor!, role: request.role! };
  }

  @Get('tokens')
  @AdminOnly()
  @ApiOkResponse({
    description: 'issued tokens: id, role, label, fingerprint, times (never the token or its hash)',
  })
  list(): AccessTokenView[] {
    return this.auth.list();
  }

  @Post('tokens')
  @AuditAction('auth.tokens.issue')
  @ApiCreatedResponse({
    description: 'the new token in `token`: shown this once, only its salted hash is kept',
  })
  issue(@Body() body: IssueTokenDto): Promise<IssuedToken> {
    return this.auth.issue(body.role, body.label);
  }

  @Post('tokens/:id/rotate')
  @HttpCode(200)
  @AuditAction('auth.tokens.rotate')
  @ApiOkResponse({
    description: 'a new secret in `token` (shown this once); the old one is refused from now on',
  })
  rotate(@Param() { id }: TokenIdParamDto): Promise<IssuedToken> {
    return this.auth.rotate(id);
  }

  @Post('tokens/:id/revoke')
  @HttpCode(200)
  @AuditAction('auth.tokens.revoke')
  @ApiOkResponse({ description: 'the token is refused from now on (the last admin token cannot be revoked)' })
  revoke(@Param() { id }: TokenIdParamDto): Promise<AccessTokenView> {
    return this.auth.revoke(id);
  }
}
