import { ConnectedSites, SiteConnection } from './connected-sites';
import { siteView } from './site-view';

function connection(siteId: string, connectionId: string, closed: string[]): SiteConnection {
  return {
    siteId,
    connectionId,
    address: '127.0.0.1',
    connectedAt: '2026-01-01T00:00:00.000Z',
    protocolMinor: 1,
    close: (reason) => closed.push(`${connectionId}: ${reason}`),
  };
}

describe('ConnectedSites', () => {
  it('keeps one connection per site: a newer one closes the older', () => {
    const closed: string[] = [];
    const registry = new ConnectedSites();
    registry.add(connection('b', 'b1', closed));
    registry.add(connection('a', 'a1', closed));
    registry.add(connection('a', 'a2', closed));
    expect(closed).toEqual(['a1: replaced by a newer connection']);
    expect(registry.list().map((c) => c.connectionId)).toEqual(['a2', 'b1']);
  });

  it('ignores the late disconnect of a replaced connection', () => {
    const registry = new ConnectedSites();
    registry.add(connection('a', 'a1', []));
    registry.add(connection('a', 'a2', []));
    registry.remove('a', 'a1');
    expect(registry.get('a')?.connectionId).toBe('a2');
    registry.setStatus('a', 'a1', { state: 'training', at: 't' });
    expect(registry.get('a')?.lastStatus).toBeUndefined();
    registry.setStatus('a', 'a2', { state: 'training', at: 't' });
    expect(registry.get('a')?.lastStatus).toEqual({ state: 'training', at: 't' });
    registry.remove('a', 'a2');
    expect(registry.get('a')).toBeUndefined();
  });

  it('disconnects a site on demand (revocation)', () => {
    const closed: string[] = [];
    const registry = new ConnectedSites();
    registry.add(connection('a', 'a1', closed));
    registry.disconnect('a', 'site revoked');
    registry.disconnect('nobody', 'x');
    expect(closed).toEqual(['a1: site revoked']);
    expect(registry.list()).toEqual([]);
  });

  it('tells its listeners when a site links and when it is gone, not when a replaced connection closes', () => {
    const events: string[] = [];
    const registry = new ConnectedSites();
    registry.listen({ siteLinked: (id) => events.push(`+${id}`), siteLeft: (id) => events.push(`-${id}`) });
    registry.add(connection('a', 'a1', []));
    registry.add(connection('a', 'a2', []));
    expect(registry.remove('a', 'a1')).toBe(false);
    registry.disconnect('a', 'site revoked');
    expect(events).toEqual(['+a', '+a', '-a']);
  });

  it("remembers an offline site's last connection: when it closed, its agent and last status", () => {
    const registry = new ConnectedSites();
    const a1 = { ...connection('a', 'a1', []), agent: { version: '0.1.0', backend: 'wasm' } };
    registry.add(a1);
    registry.setStatus('a', 'a1', { state: 'idle', at: 't' });
    expect(registry.lastSeen('a')).toBeUndefined(); // connected: nothing "last" about it
    const before = Date.now();
    registry.remove('a', 'a1');
    const seen = registry.lastSeen('a')!;
    expect(Date.parse(seen.at)).toBeGreaterThanOrEqual(before);
    expect(seen).toMatchObject({
      agent: { version: '0.1.0', backend: 'wasm' },
      lastStatus: { state: 'idle' },
    });

    const record = { id: 'a', publicKey: 'k', fingerprint: 'f', enrolledAt: 'e' };
    expect(siteView(record, undefined, seen)).toMatchObject({
      connected: false,
      lastSeenAt: seen.at,
      agent: { backend: 'wasm' },
    });
    registry.add(connection('a', 'a2', []));
    expect(registry.lastSeen('a')).toBeUndefined();
    expect(siteView(record, registry.get('a'), registry.lastSeen('a'))).not.toHaveProperty('lastSeenAt');
  });
});
