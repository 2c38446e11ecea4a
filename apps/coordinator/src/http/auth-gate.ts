import type { IncomingMessage } from 'node:http';
import { AuditService } from '../audit/audit.service';
import { AdminAuthService } from '../auth/admin-auth.service';
import { bearerToken } from '../auth/admin-token';
import { Middleware, pathOf, refuse } from './http-reply';
import { RefusalLimiter } from './refusal-limiter';

/**
 * Paths open without a token: health probes and the API reference. Everything else (including
 * paths that exist nowhere) needs the admin token before a byte of its body is read.
 */
export const PUBLIC_PATHS: readonly RegExp[] = [
  /^\/health(?:\/[a-z]+)?\/?$/,
  // Prometheus scrapes without a token; keep it internal (deploy/nginx/phcc-fed.conf).
  /^\/metrics\/?$/,
  /^\/docs(?:[/-].*)?$/,
  // The dashboard's page and assets: it asks for a token itself and sends it on every API call.
  /^\/ui(?:\/.*)?$/,
];

export function isPublicPath(path: string): boolean {
  return PUBLIC_PATHS.some((pattern) => pattern.test(path));
}

/** The address a request came from (Express's `req.ip` is not set yet this early). */
export function sourceAddress(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? 'unknown';
}

/**
 * Express middleware ahead of the body parsers: an address that earned too many refusals gets
 * 429; a request for a non-public path without the admin token gets 401 (audited through the
 * refusal throttle, path truncated) and its body is never read. The Nest guard still runs on
 * every route afterwards and names the actor for the audit trail.
 */
export function authGate(auth: AdminAuthService, audit: AuditService, limiter: RefusalLimiter): Middleware {
  return (req, res, next) => {
    const path = pathOf(req);
    if (isPublicPath(path)) return next();
    const address = sourceAddress(req);
    const wait = limiter.blockedFor(address);
    if (wait > 0) {
      refuse(
        res,
        429,
        'Too Many Requests',
        `too many refused requests from ${address}; try again in ${wait} s`,
        {
          'Retry-After': String(wait),
        },
      );
      return;
    }
    const header = req.headers.authorization;
    if (auth.authenticate(bearerToken(header))) return next();
    limiter.refused(address);
    void audit
      .recordRefusal({
        actor: `anonymous@${address}`,
        action: 'auth.denied',
        // Cut to MAX_AUDITED_TEXT by the audit service (boundedEntry), once: cut here too, its
        // "(N characters)" note would count the cut text, not the path.
        target: `${req.method ?? '?'} ${path}`,
        outcome: 'denied',
        detail: { reason: header ? 'wrong or malformed bearer token' : 'no Authorization header' },
      })
      .catch(() => undefined);
    refuse(res, 401, 'Unauthorized', 'admin routes need "Authorization: Bearer <admin token>"', {
      'WWW-Authenticate': 'Bearer',
    });
  };
}
