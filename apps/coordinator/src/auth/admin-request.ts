import type { IncomingMessage } from 'node:http';
import type { AccessRole } from './access-tokens';

/**
 * The parts of Express's request the coordinator reads (no @types/express in the project), plus
 * `actor` and `role`, set by the access guard to name who is acting for the audit trail.
 */
export type AdminRequest = IncomingMessage & {
  ip?: string;
  path: string;
  params?: Record<string, string>;
  actor?: string;
  role?: AccessRole;
};

export function actorOf(request: AdminRequest): string {
  return request.actor ?? `anonymous@${request.ip ?? 'unknown'}`;
}
