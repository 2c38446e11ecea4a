import { TRANSFER_EVENTS } from '../../../../libs/protocol/src';
import { SiteMessageBudget } from './message-budget';

describe('SiteMessageBudget', () => {
  it('lets a burst through, then the sustained rate, per site', () => {
    const budget = new SiteMessageBudget(5, 10);
    for (let i = 0; i < 5; i++) expect(budget.admit('site-a', 'status', 0)).toBe(true);
    expect(budget.admit('site-a', 'status', 0)).toBe(false);
    // Another site is not affected by site-a's flood.
    expect(budget.admit('site-b', 'status', 0)).toBe(true);
    // 10 a second: one more after 100 ms, none in between.
    expect(budget.admit('site-a', 'status', 50)).toBe(false);
    expect(budget.admit('site-a', 'status', 150)).toBe(true);
    expect(budget.admit('site-a', 'status', 150)).toBe(false);
    // Refilled to the burst, never above it.
    for (let i = 0; i < 5; i++) expect(budget.admit('site-a', 'task-ack', 60_000)).toBe(true);
    expect(budget.admit('site-a', 'task-ack', 60_000)).toBe(false);
  });

  it('does not count transfer chunks (a transfer is bounded by its announced size)', () => {
    const budget = new SiteMessageBudget(1, 1);
    expect(budget.admit('site-a', TRANSFER_EVENTS.begin, 0)).toBe(true);
    for (let i = 0; i < 1000; i++) expect(budget.admit('site-a', TRANSFER_EVENTS.chunk, 0)).toBe(true);
    expect(budget.admit('site-a', TRANSFER_EVENTS.end, 0)).toBe(false);
  });
});
