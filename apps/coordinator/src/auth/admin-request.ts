import type { IncomingMessage } from 'node:http';

/**
 * The parts of Express's request the coordinator reads (no @types/express in the project), plus
 * `actor`, set by the admin guard to name who is acting for the audit trail.
 */
export type AdminRequest = IncomingMessage & {
  ip?: string;
  path: string;
  params?: Record<string, string>;
  actor?: string;
};

export function actorOf(request: AdminRequest): string {
  return request.actor ?? `anonymous@${request.ip ?? 'unknown'}`;
}
