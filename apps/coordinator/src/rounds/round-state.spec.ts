import { RoundStateMachine, RoundTransitionError } from './round-state';

const base = { selected: ['c', 'a', 'b'], quorum: 2, deadlineMs: 1000, attempt: 1, maxAttempts: 2 };

describe('RoundStateMachine', () => {
  it('waits until every selected site answered, then closes with the answers in id order', () => {
    const m = new RoundStateMachine(base);
    m.apply('collect');
    expect(m.answered('c')).toBe(true);
    expect(m.decide(10)).toEqual({ kind: 'wait' });
    m.answered('a');
    expect(m.decide(10)).toEqual({ kind: 'wait' });
    m.answered('b');
    expect(m.decide(10)).toEqual({ kind: 'close', why: 'all-answered', answered: ['a', 'b', 'c'] });
  });

  it('closes at the deadline with a quorum even if a site is still silent', () => {
    const m = new RoundStateMachine(base);
    m.apply('collect');
    m.answered('b');
    m.answered('a');
    expect(m.decide(999)).toEqual({ kind: 'wait' });
    expect(m.decide(1000)).toEqual({ kind: 'close', why: 'deadline', answered: ['a', 'b'] });
  });

  it('refuses late, duplicate and unselected answers', () => {
    const m = new RoundStateMachine(base);
    m.apply('collect');
    expect(m.answered('a')).toBe(true);
    expect(m.answered('a')).toBe(false); // duplicate
    expect(m.answered('zz')).toBe(false); // never selected
    m.answered('b');
    m.apply('aggregate');
    expect(m.answered('c')).toBe(false); // late: the round has closed
  });

  it('a dropped site no longer counts, and an unreachable quorum is decided before the deadline', () => {
    const m = new RoundStateMachine(base);
    m.apply('collect');
    m.answered('a');
    expect(m.drop('b', 'disconnected')).toBe(true);
    expect(m.answered('b')).toBe(false);
    expect(m.decide(5)).toEqual({ kind: 'wait' }); // c may still answer: 1 + 1 ≥ 2
    m.drop('c', 'declined');
    const decision = m.decide(5);
    expect(decision.kind).toBe('retry');
    expect(m.droppedSites()).toEqual([
      { siteId: 'b', reason: 'disconnected' },
      { siteId: 'c', reason: 'declined' },
    ]);
  });

  it('retries while attempts remain, then fails with the reason', () => {
    const first = new RoundStateMachine({ ...base, attempt: 1 });
    first.apply('collect');
    expect(first.decide(1000)).toMatchObject({
      kind: 'retry',
      reason: expect.stringMatching(/quorum not reached: 0/),
    });
    const last = new RoundStateMachine({ ...base, attempt: 2 });
    last.apply('collect');
    last.answered('a');
    expect(last.decide(1000)).toMatchObject({
      kind: 'fail',
      reason: expect.stringMatching(/no attempts left \(2\)/),
    });
  });

  it('allows only the documented transitions', () => {
    const m = new RoundStateMachine(base);
    expect(() => m.apply('aggregate')).toThrow(RoundTransitionError);
    m.apply('collect');
    m.apply('aggregate');
    expect(m.can('retry')).toBe(false);
    m.apply('finish');
    expect(m.state).toBe('done');
    expect(() => m.apply('fail')).toThrow(/cannot fail while done/);
    expect(m.decide(1e9)).toEqual({ kind: 'wait' });
  });
});
