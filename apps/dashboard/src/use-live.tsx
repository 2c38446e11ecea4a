import { useEffect, useState } from 'preact/hooks';
import { EntityMaps, LiveStatus, watchTopic } from './live';

/** Subscribes a component to one live topic for as long as it is shown. */
export function useLive(
  path: string,
  token: string,
): { maps: EntityMaps; status: LiveStatus; detail?: string } {
  const [maps, setMaps] = useState<EntityMaps>({});
  const [status, setStatus] = useState<{ status: LiveStatus; detail?: string }>({ status: 'connecting' });
  useEffect(
    () =>
      watchTopic(path, token, {
        onEntities: setMaps,
        onStatus: (s, detail) => setStatus({ status: s, detail }),
      }),
    [path, token],
  );
  return { maps, ...status };
}

export function LiveBadge({ status, detail }: { status: LiveStatus; detail?: string }) {
  const text = { connecting: 'connecting…', live: 'live', retrying: 'reconnecting…', closed: 'closed' }[
    status
  ];
  return (
    <span class={`live live-${status}`} title={detail} aria-live="polite">
      {text}
    </span>
  );
}
