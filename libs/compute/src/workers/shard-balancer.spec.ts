import { ShardBalancer } from './shard-balancer';

const sizes = (bounds: number[]) => bounds.slice(1).map((b, i) => b - bounds[i]);

describe('ShardBalancer', () => {
  it('splits equally until every replica has been timed', () => {
    const b = new ShardBalancer(3);
    expect(b.bounds(16)).toEqual([0, 5, 11, 16]);
    b.record(0, 5, 100);
    expect(b.bounds(16)).toEqual([0, 5, 11, 16]);
  });

  it('gives a replica 1.35× slower per item proportionally fewer items', () => {
    const b = new ShardBalancer(2);
    b.record(0, 8, 8 * 20);
    b.record(1, 8, 8 * 27);
    expect(sizes(b.bounds(16))).toEqual([9, 7]);
    expect(b.relativeSpeeds()?.[1]).toBeCloseTo(20 / 27, 5);
  });

  it('keeps every shard at least one item and the total exact', () => {
    const b = new ShardBalancer(3);
    b.record(0, 1, 1);
    b.record(1, 1, 1000);
    b.record(2, 1, 1000);
    for (const total of [3, 4, 7, 16]) {
      const s = sizes(b.bounds(total));
      expect(s.reduce((a, c) => a + c, 0)).toBe(total);
      expect(Math.min(...s)).toBeGreaterThanOrEqual(1);
    }
  });

  it('splits a short batch over the first n replicas', () => {
    const b = new ShardBalancer(3);
    [10, 10, 40].forEach((ms, i) => b.record(i, 1, ms));
    expect(b.bounds(2, 2)).toEqual([0, 1, 2]);
    expect(() => b.bounds(1, 2)).toThrow(/cannot feed/);
  });

  it('smooths: one slow step moves the split only part of the way', () => {
    const b = new ShardBalancer(2, 'speed', 0.3);
    b.record(0, 8, 160);
    b.record(1, 8, 160);
    b.record(1, 8, 480); // one hiccup: 3× slower
    const s = sizes(b.bounds(16));
    expect(s[0]).toBeGreaterThan(8);
    expect(s[0]).toBeLessThan(12); // an unsmoothed 3× would give 12 + 4
  });

  it("'equal' ignores measured speed (bit-repeatable runs)", () => {
    const b = new ShardBalancer(2, 'equal');
    b.record(0, 8, 100);
    b.record(1, 8, 900);
    expect(b.bounds(16)).toEqual([0, 8, 16]);
  });

  it('ignores measurements that carry no information', () => {
    const b = new ShardBalancer(2);
    b.record(0, 0, 100);
    b.record(1, 8, Number.NaN);
    expect(b.relativeSpeeds()).toBeUndefined();
    expect(b.bounds(16)).toEqual([0, 8, 16]);
  });
});
