/**
 * What the dashboard's live streams carry: the state of a topic (a run, the runs list, the sites)
 * as a set of keyed entities, sent whole once (`snapshot`) and then as differences (`change`).
 * The browser keeps `kind → key → value` and needs nothing else, so whatever produces the
 * differences — today a watcher reading the store, later an in-process event bus — can change
 * without touching the browser.
 */
export const LIVE_KINDS = ['run', 'round', 'task', 'update', 'metric', 'evaluation', 'site'] as const;
export type LiveKind = (typeof LIVE_KINDS)[number];

export interface LiveEntity {
  kind: LiveKind;
  /** Unique within its kind (`ssl/3` for a round, the task id for a task, …). */
  key: string;
  value: unknown;
}

export type LiveMessage =
  | { type: 'snapshot'; entities: LiveEntity[] }
  | { type: 'change'; upserts: LiveEntity[]; removals: Pick<LiveEntity, 'kind' | 'key'>[] }
  | { type: 'error'; message: string };

/** The entities of one moment, with each one's serialised value for cheap comparison. */
export type EntityState = Map<string, { entity: LiveEntity; json: string }>;

export function entityState(entities: readonly LiveEntity[]): EntityState {
  const state: EntityState = new Map();
  for (const entity of entities)
    state.set(`${entity.kind}\u0000${entity.key}`, { entity, json: JSON.stringify(entity.value) });
  return state;
}

/** What changed from `before` to `after`: new or different entities, and those that are gone. */
export function diffEntities(
  before: EntityState,
  after: EntityState,
): { upserts: LiveEntity[]; removals: Pick<LiveEntity, 'kind' | 'key'>[] } {
  const upserts: LiveEntity[] = [];
  for (const [id, now] of after) if (before.get(id)?.json !== now.json) upserts.push(now.entity);
  const removals: Pick<LiveEntity, 'kind' | 'key'>[] = [];
  for (const [id, was] of before)
    if (!after.has(id)) removals.push({ kind: was.entity.kind, key: was.entity.key });
  return { upserts, removals };
}
