import { Log } from '../../../../libs/common/src';
import { RefusalThrottle } from '../audit/refusal-throttle';
import { throttledLog } from './throttled-log';

/** Issue #18 row 10: 3,000 bad handshakes or 20,000 site events no longer write one line each. */
describe('throttledLog', () => {
  it('writes at most 100 lines a minute per message and subject, then says how many were left out', () => {
    const lines: unknown[][] = [];
    const target: Log = {
      debug: (...a) => lines.push(['debug', ...a]),
      info: (...a) => lines.push(['info', ...a]),
      warn: (...a) => lines.push(['warn', ...a]),
      error: (...a) => lines.push(['error', ...a]),
    };
    let now = 0;
    const throttle = new RefusalThrottle(100, 60_000);
    const admit = throttle.admit.bind(throttle);
    throttle.admit = (key: string) => admit(key, now);
    const log = throttledLog(target, throttle);
    for (let i = 0; i < 3000; i++)
      log.warn({ actor: 'site:unknown@10.0.0.9', code: 'BAD_SIGNATURE' }, 'site message refused');
    for (let i = 0; i < 20_000; i++) log.info({ site: 'hospital-a' }, 'site connected');
    log.info({ site: 'hospital-b' }, 'site connected');
    expect(lines).toHaveLength(100 + 100 + 1);
    now = 60_000;
    log.warn({ actor: 'site:unknown@10.0.0.9' }, 'site message refused');
    expect(lines.at(-1)).toEqual([
      'warn',
      { actor: 'site:unknown@10.0.0.9', suppressedBefore: 2900 },
      'site message refused',
    ]);
  });
});
