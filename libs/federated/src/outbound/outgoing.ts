import { NamedArray, SiteMetrics, UpdateKind } from '../types';

/** A site's update on its way out, before it is encoded and signed. */
export interface OutgoingUpdate {
  kind: UpdateKind;
  numSamples: number;
  arrays: NamedArray[];
  metrics: SiteMetrics;
}

/**
 * One step of the site's way out (NVFlare-style filter): takes the update, returns the update to
 * pass on. Filters never mutate their input's arrays, so a trainer can keep using its weights.
 */
export interface OutgoingFilter {
  readonly name: string;
  process(update: OutgoingUpdate): OutgoingUpdate;
}

/** Runs the filters in order. */
export function applyOutgoing(update: OutgoingUpdate, filters: readonly OutgoingFilter[]): OutgoingUpdate {
  return filters.reduce((current, filter) => filter.process(current), update);
}
