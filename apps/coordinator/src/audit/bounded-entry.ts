import { truncateText } from '../http/http-reply';
import { MAX_AUDITED_TEXT } from '../http/request-limits';
import { NewAuditRecord } from '../persistence/records';

/** Largest audit `detail` kept as JSON; a bigger one (e.g. thousands of validation errors) is cut. */
export const MAX_AUDIT_DETAIL_CHARS = 4096;

/**
 * An audit entry with every caller-influenced field bounded: actor and target to
 * MAX_AUDITED_TEXT characters, detail to MAX_AUDIT_DETAIL_CHARS of JSON. The audit log is
 * append-only, so what an anonymous caller can put in one row must be small.
 */
export function boundedEntry(entry: NewAuditRecord): NewAuditRecord {
  const bounded: NewAuditRecord = {
    ...entry,
    actor: truncateText(entry.actor, MAX_AUDITED_TEXT),
    ...(entry.target !== undefined ? { target: truncateText(entry.target, MAX_AUDITED_TEXT) } : {}),
  };
  if (entry.detail !== undefined) {
    const json = JSON.stringify(entry.detail);
    if (json !== undefined && json.length > MAX_AUDIT_DETAIL_CHARS) {
      bounded.detail = { truncated: truncateText(json, MAX_AUDIT_DETAIL_CHARS) };
    }
  }
  return bounded;
}
