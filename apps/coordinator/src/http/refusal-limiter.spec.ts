import { RefusalLimiter } from './refusal-limiter';

describe('RefusalLimiter', () => {
  it('blocks a source after `limit` refusals until its window ends, others unaffected', () => {
    const limiter = new RefusalLimiter(3, 1000);
    for (let t = 0; t < 3; t++) {
      expect(limiter.blockedFor('1.2.3.4', t)).toBe(0);
      limiter.refused('1.2.3.4', t);
    }
    expect(limiter.blockedFor('1.2.3.4', 10)).toBe(1); // seconds, rounded up
    expect(limiter.blockedFor('5.6.7.8', 10)).toBe(0);
    expect(limiter.blockedFor('1.2.3.4', 1000)).toBe(0);
    limiter.refused('1.2.3.4', 1000);
    expect(limiter.blockedFor('1.2.3.4', 1001)).toBe(0);
  });

  it('keeps its memory bounded under a flood of distinct sources', () => {
    const limiter = new RefusalLimiter(1, 1000, 100);
    for (let i = 0; i < 1000; i++) limiter.refused(`source-${i}`, i);
    expect((limiter as unknown as { windows: Map<string, unknown> }).windows.size).toBeLessThanOrEqual(100);
    expect(limiter.blockedFor('source-999', 999)).toBeGreaterThan(0);
  });
});
