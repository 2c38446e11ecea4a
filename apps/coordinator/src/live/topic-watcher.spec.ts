import { diffEntities, entityState, LiveEntity, LiveMessage } from './live-entities';
import { TopicWatcher } from './topic-watcher';

const round = (key: string, state: string): LiveEntity => ({ kind: 'round', key, value: { state } });

describe('live entities', () => {
  it('diffs by kind and key: new and changed entities are upserts, missing ones removals', () => {
    const before = entityState([
      round('ssl/1', 'done'),
      round('ssl/2', 'collecting'),
      { kind: 'task', key: 't', value: 1 },
    ]);
    const after = entityState([
      round('ssl/1', 'done'),
      round('ssl/2', 'done'),
      round('finetune/1', 'dispatched'),
    ]);
    expect(diffEntities(before, after)).toEqual({
      upserts: [round('ssl/2', 'done'), round('finetune/1', 'dispatched')],
      removals: [{ kind: 'task', key: 't' }],
    });
    expect(diffEntities(after, after)).toEqual({ upserts: [], removals: [] });
  });
});

describe('TopicWatcher', () => {
  let rounds: LiveEntity[];
  let loads: number;
  const load = async () => {
    loads++;
    return rounds;
  };
  beforeEach(() => {
    jest.useFakeTimers();
    rounds = [round('ssl/1', 'collecting')];
    loads = 0;
  });
  afterEach(() => jest.useRealTimers());

  async function tick(ms: number) {
    await jest.advanceTimersByTimeAsync(ms);
  }

  it('reads once a tick for all listeners, sends a snapshot first and then only changes', async () => {
    const watcher = new TopicWatcher(load, 1000);
    const a: LiveMessage[] = [];
    const b: LiveMessage[] = [];
    const stopA = watcher.subscribe((m) => a.push(m));
    await tick(0);
    expect(a).toEqual([{ type: 'snapshot', entities: [round('ssl/1', 'collecting')] }]);
    watcher.subscribe((m) => b.push(m));
    expect(b).toEqual([{ type: 'snapshot', entities: [round('ssl/1', 'collecting')] }]);
    await tick(3000);
    expect(loads).toBe(4);
    expect(a).toHaveLength(1); // nothing changed: nothing sent
    rounds = [round('ssl/1', 'done'), round('ssl/2', 'dispatched')];
    await tick(1000);
    const change = { type: 'change', upserts: rounds, removals: [] };
    expect(a.at(-1)).toEqual(change);
    expect(b.at(-1)).toEqual(change);
    stopA();
    await tick(1000);
    expect(loads).toBe(6); // b still listens
  });

  it('stops reading when the last listener leaves, and starts afresh for the next one', async () => {
    const idle = jest.fn();
    const watcher = new TopicWatcher(load, 1000, idle);
    const stop = watcher.subscribe(() => undefined);
    await tick(2000);
    stop();
    expect(idle).toHaveBeenCalledTimes(1);
    const before = loads;
    await tick(10_000);
    expect(loads).toBe(before);
    const messages: LiveMessage[] = [];
    watcher.subscribe((m) => messages.push(m));
    await tick(0);
    expect(messages[0].type).toBe('snapshot');
  });

  it('tells listeners when the store cannot be read, and carries on', async () => {
    let fail = true;
    const watcher = new TopicWatcher(async () => {
      if (fail) throw new Error('database is locked');
      return rounds;
    }, 1000);
    const messages: LiveMessage[] = [];
    watcher.subscribe((m) => messages.push(m));
    await tick(0);
    expect(messages).toEqual([{ type: 'error', message: 'database is locked' }]);
    fail = false;
    await tick(1000);
    expect(messages[1].type).toBe('snapshot');
    watcher.close();
  });
});
