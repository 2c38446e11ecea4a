import { Log } from '../../../../libs/common/src';
import { RefusalThrottle } from '../audit/refusal-throttle';

type Level = keyof Log;

/**
 * A Log that bounds repeated lines the way the audit trail bounds refusals: per level, message
 * and subject (the `source`, `actor` or `site` field), up to `perWindow` lines a minute are written, the
 * rest are counted and the next line written says how many were left out. A flood of bad
 * handshakes or site events from one source cannot fill the disk with log lines, while distinct
 * events from other sites still appear.
 */
export function throttledLog(target: Log, throttle = new RefusalThrottle(100, 60_000)): Log {
  const write =
    (level: Level) =>
    (obj: object | string, msg?: string): void => {
      const fields = typeof obj === 'string' ? {} : (obj as Record<string, unknown>);
      const text = typeof obj === 'string' ? obj : (msg ?? '');
      // `source` when the actor is an unverified claim (a refused handshake's claimed site).
      const subject = fields.source ?? fields.actor ?? fields.site ?? '';
      const { record, suppressedBefore } = throttle.admit(`${level}|${text}|${String(subject)}`);
      if (!record) return;
      if (suppressedBefore === 0) {
        target[level](obj, msg);
      } else if (typeof obj === 'string') {
        target[level]({ suppressedBefore }, obj);
      } else {
        target[level]({ ...fields, suppressedBefore }, msg);
      }
    };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}
