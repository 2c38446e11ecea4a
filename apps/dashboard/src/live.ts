/**
 * The coordinator's live topics (/events/…): a snapshot of keyed entities, then changes. Read
 * with fetch() so the token goes in the Authorization header (EventSource cannot send one).
 * Reconnects with back-off; each reconnect starts from a fresh snapshot, so nothing is missed.
 */
export interface LiveEntity {
  kind: string;
  key: string;
  value: unknown;
}

type LiveMessage =
  | { type: 'snapshot'; entities: LiveEntity[] }
  | { type: 'change'; upserts: LiveEntity[]; removals: { kind: string; key: string }[] }
  | { type: 'error'; message: string };

/** `kind → key → value`, replaced as a whole on every message so views re-render. */
export type EntityMaps = Record<string, Map<string, unknown>>;

export type LiveStatus = 'connecting' | 'live' | 'retrying' | 'closed';

export interface LiveHandlers {
  onEntities(maps: EntityMaps): void;
  onStatus(status: LiveStatus, detail?: string): void;
}

export function watchTopic(path: string, token: string, handlers: LiveHandlers): () => void {
  let maps: EntityMaps = {};
  let closed = false;
  let abort: AbortController | undefined;
  let retryMs = 1000;

  const apply = (message: LiveMessage) => {
    if (message.type === 'error') return handlers.onStatus('retrying', message.message);
    if (message.type === 'snapshot') maps = {};
    const upserts = message.type === 'snapshot' ? message.entities : message.upserts;
    const next: EntityMaps = { ...maps };
    for (const entity of upserts) {
      const map = (next[entity.kind] = new Map(next[entity.kind] ?? []));
      map.set(entity.key, entity.value);
    }
    if (message.type === 'change') {
      for (const gone of message.removals) {
        const map = (next[gone.kind] = new Map(next[gone.kind] ?? []));
        map.delete(gone.key);
      }
    }
    maps = next;
    handlers.onEntities(maps);
  };

  const connect = async () => {
    abort = new AbortController();
    handlers.onStatus('connecting');
    try {
      const response = await fetch(path, {
        headers: { authorization: `Bearer ${token}` },
        signal: abort.signal,
      });
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      handlers.onStatus('live');
      retryMs = 1000;
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block
            .split('\n')
            .filter((line) => line.startsWith('data: '))
            .map((line) => line.slice(6))
            .join('\n');
          if (data) apply(JSON.parse(data) as LiveMessage);
        }
      }
      if (!closed) throw new Error('the coordinator closed the stream');
    } catch (err) {
      if (closed) return;
      handlers.onStatus('retrying', err instanceof Error ? err.message : String(err));
      setTimeout(() => void (closed || connect()), retryMs);
      retryMs = Math.min(retryMs * 2, 30_000);
    }
  };
  void connect();
  return () => {
    closed = true;
    abort?.abort();
    handlers.onStatus('closed');
  };
}

/** The values of one kind, in key order of arrival. */
export function valuesOf<T>(maps: EntityMaps, kind: string): T[] {
  return [...(maps[kind]?.values() ?? [])] as T[];
}
