import { CanActivate, ExecutionContext, Injectable, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuditService } from '../audit/audit.service';
import { AdminRequest } from './admin-request';
import { AdminAuthService } from './admin-auth.service';
import { bearerToken } from './admin-token';
import { IS_PUBLIC } from './public.decorator';

/**
 * Global guard: every HTTP route needs `Authorization: Bearer <admin token>` unless marked
 * `@Public()`. A refusal is audited (with the caller's address, never the presented token).
 */
@Injectable()
export class AdminTokenGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly auth: AdminAuthService,
    private readonly audit: AuditService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const isPublic = this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (isPublic) return true;
    const request = context.switchToHttp().getRequest<AdminRequest>();
    const header = request.headers.authorization;
    const actor = this.auth.authenticate(bearerToken(header));
    if (actor) {
      request.actor = actor;
      return true;
    }
    await this.audit.recordRefusal({
      actor: `anonymous@${request.ip ?? 'unknown'}`,
      action: 'auth.denied',
      target: `${request.method} ${request.path}`,
      outcome: 'denied',
      detail: { reason: header ? 'wrong or malformed bearer token' : 'no Authorization header' },
    });
    throw new UnauthorizedException('admin routes need "Authorization: Bearer <admin token>"');
  }
}
