import { RefusalThrottle } from './refusal-throttle';

describe('RefusalThrottle', () => {
  it('records up to the limit per window, counts the rest, and reports the count in the next window', () => {
    const throttle = new RefusalThrottle(3, 1000);
    const decisions = Array.from(
      { length: 5 },
      (_v, i) => throttle.admit('anonymous@1.2.3.4|auth.denied', i).record,
    );
    expect(decisions).toEqual([true, true, true, false, false]);
    expect(throttle.admit('other|auth.denied', 10)).toEqual({ record: true, suppressedBefore: 0 });
    expect(throttle.admit('anonymous@1.2.3.4|auth.denied', 1000)).toEqual({
      record: true,
      suppressedBefore: 2,
    });
    expect(throttle.admit('anonymous@1.2.3.4|auth.denied', 1001)).toEqual({
      record: true,
      suppressedBefore: 0,
    });
  });

  it('keeps its memory bounded under a flood of distinct callers', () => {
    const throttle = new RefusalThrottle(1, 1000, 100);
    for (let i = 0; i < 1000; i++) expect(throttle.admit(`caller-${i}`, i).record).toBe(true);
    expect((throttle as unknown as { windows: Map<string, unknown> }).windows.size).toBeLessThanOrEqual(100);
  });
});
