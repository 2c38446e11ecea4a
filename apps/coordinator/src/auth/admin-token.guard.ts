import {
  CanActivate,
  ExecutionContext,
  ForbiddenException,
  HttpException,
  HttpStatus,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuditService } from '../audit/audit.service';
import { AdminRequest } from './admin-request';
import { AdminAuthService } from './admin-auth.service';
import { bearerToken } from './admin-token';
import { IS_PUBLIC } from './public.decorator';
import { RefusalLimiter } from '../http/refusal-limiter';
import { ADMIN_ONLY } from './roles.decorator';

/** Methods that change nothing: open to observers unless the route is @AdminOnly(). */
const READ_METHODS = new Set(['GET', 'HEAD']);

/**
 * Global guard: every HTTP route needs `Authorization: Bearer <token>` unless marked `@Public()`.
 * Admin tokens may do everything; observer tokens may read and get 403 with the reason on a write
 * or an @AdminOnly() route. Every refusal is audited (address and route, never the presented
 * token) and counted per source: a source refused too often is answered 429 for a while.
 */
@Injectable()
export class AdminTokenGuard implements CanActivate {
  constructor(
    private readonly limiter: RefusalLimiter,
    private readonly reflector: Reflector,
    private readonly auth: AdminAuthService,
    private readonly audit: AuditService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, targets)) return true;
    const request = context.switchToHttp().getRequest<AdminRequest>();
    const source = request.ip ?? 'unknown';
    const retrySeconds = this.limiter.blockedFor(source);
    if (retrySeconds > 0) {
      throw new HttpException(
        `too many refused requests from ${source}; try again in ${retrySeconds} s`,
        HttpStatus.TOO_MANY_REQUESTS,
      );
    }
    const header = request.headers.authorization;
    const caller = this.auth.authenticate(bearerToken(header));
    const route = `${request.method} ${request.path}`;
    if (!caller) {
      await this.refuse(source, {
        actor: `anonymous@${source}`,
        action: 'auth.denied',
        target: route,
        outcome: 'denied',
        detail: { reason: header ? 'wrong or malformed bearer token' : 'no Authorization header' },
      });
      throw new UnauthorizedException('this route needs "Authorization: Bearer <token>"');
    }
    request.actor = caller.actor;
    request.role = caller.role;
    if (caller.role === 'admin') return true;
    const adminOnly = this.reflector.getAllAndOverride<boolean>(ADMIN_ONLY, targets);
    if (READ_METHODS.has(request.method ?? '') && !adminOnly) return true;
    const reason = adminOnly
      ? `${route} is for admins only; observer tokens may not use it`
      : `observer tokens are read-only; ${route} needs an admin token`;
    await this.refuse(source, {
      actor: caller.actor,
      action: 'auth.forbidden',
      target: route,
      outcome: 'denied',
      detail: { reason },
    });
    throw new ForbiddenException(reason);
  }

  private async refuse(source: string, entry: Parameters<AuditService['recordRefusal']>[0]): Promise<void> {
    this.limiter.refused(source);
    await this.audit.recordRefusal(entry);
  }
}
