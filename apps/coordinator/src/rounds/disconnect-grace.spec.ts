import { DisconnectGrace, reconnectVerdict } from './disconnect-grace';

describe('disconnect grace', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('drops a site that does not come back when the grace ends', () => {
    const grace = new DisconnectGrace(10_000);
    const drop = jest.fn();
    expect(grace.start('site-a', 1_000, 60_000, drop)).toBe(11_000);
    jest.advanceTimersByTime(9_999);
    expect(drop).not.toHaveBeenCalled();
    expect(grace.isPending('site-a')).toBe(true);
    jest.advanceTimersByTime(1);
    expect(drop).toHaveBeenCalledTimes(1);
    expect(grace.isPending('site-a')).toBe(false);
  });

  it('never lasts past the round deadline', () => {
    const grace = new DisconnectGrace(10_000);
    const drop = jest.fn();
    expect(grace.start('site-a', 1_000, 4_000, drop)).toBe(4_000);
    jest.advanceTimersByTime(3_000);
    expect(drop).toHaveBeenCalledTimes(1);
  });

  it('keeps the site when cancelled (it reconnected with its task), and restarts on a second disconnect', () => {
    const grace = new DisconnectGrace(5_000);
    const drop = jest.fn();
    grace.start('site-a', 0, 60_000, drop);
    jest.advanceTimersByTime(4_000);
    expect(grace.cancel('site-a')).toBe(true);
    expect(grace.cancel('site-a')).toBe(false);
    jest.advanceTimersByTime(10_000);
    expect(drop).not.toHaveBeenCalled();
    grace.start('site-a', 14_000, 60_000, drop);
    jest.advanceTimersByTime(4_999);
    expect(drop).not.toHaveBeenCalled();
    jest.advanceTimersByTime(1);
    expect(drop).toHaveBeenCalledTimes(1);
  });

  it('clear() leaves no timer behind when the attempt ends', () => {
    const grace = new DisconnectGrace(5_000);
    const drop = jest.fn();
    grace.start('site-a', 0, 60_000, drop);
    grace.start('site-b', 0, 60_000, drop);
    grace.clear();
    jest.advanceTimersByTime(60_000);
    expect(drop).not.toHaveBeenCalled();
    expect(jest.getTimerCount()).toBe(0);
  });

  it("reads the agent's status after reconnecting: idle or a failure of this task drops it", () => {
    expect(reconnectVerdict({ state: 'idle' }, 't-1')).toBe('drop');
    expect(reconnectVerdict({ state: 'error', taskId: 't-1' }, 't-1')).toBe('drop');
    expect(reconnectVerdict({ state: 'training', taskId: 't-1' }, 't-1')).toBe('keep');
    expect(reconnectVerdict({ state: 'uploading', taskId: 't-1' }, 't-1')).toBe('keep');
    // Still finishing an earlier task: this one waits in the agent's queue.
    expect(reconnectVerdict({ state: 'training', taskId: 't-0' }, 't-1')).toBe('keep');
    expect(reconnectVerdict({ state: 'error', taskId: 't-0' }, 't-1')).toBe('keep');
  });
});
