import { CallHandler, ExecutionContext, HttpException, Injectable, NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { Observable, from, lastValueFrom } from 'rxjs';
import { actorOf, AdminRequest } from '../auth/admin-request';
import { AUDIT_ACTION } from './audit-action.decorator';
import { AuditService } from './audit.service';

/**
 * Records every call of a route marked with `@AuditAction`: who, what, which target (the route's
 * `:id`/`:digest`), and whether it succeeded — including requests refused by validation, which
 * run inside this interceptor. The response waits for the entry to be written, so an action is
 * never reported done without its audit trail.
 */
@Injectable()
export class AuditInterceptor implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    private readonly audit: AuditService,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const action = this.reflector.get<string | undefined>(AUDIT_ACTION, context.getHandler());
    if (!action || context.getType() !== 'http') return next.handle();
    const request = context.switchToHttp().getRequest<AdminRequest>();
    const base = {
      actor: actorOf(request),
      action,
      target: request.params?.id ?? request.params?.digest,
    };
    return from(
      (async () => {
        try {
          const result: unknown = await lastValueFrom(next.handle(), { defaultValue: undefined });
          const target = base.target ?? targetOf(result);
          await this.audit.record({ ...base, target, outcome: 'ok' });
          return result;
        } catch (err) {
          const status = err instanceof HttpException ? err.getStatus() : 500;
          await this.audit.record({
            ...base,
            outcome: status < 500 ? 'rejected' : 'error',
            detail: {
              status,
              message: err instanceof Error ? err.message : String(err),
              errors: validationErrors(err),
            },
          });
          throw err;
        }
      })(),
    );
  }
}

/** A created resource's id (or a stored model's digest), so `runs.create` names the run it made. */
function targetOf(result: unknown): string | undefined {
  const created = result as { id?: unknown; digest?: unknown } | null | undefined;
  const id = created?.id ?? created?.digest;
  return typeof id === 'string' ? id : undefined;
}

function validationErrors(err: unknown): unknown {
  if (!(err instanceof HttpException)) return undefined;
  const body = err.getResponse();
  return typeof body === 'object' && body !== null ? (body as { message?: unknown }).message : undefined;
}
