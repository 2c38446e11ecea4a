import { ProtocolErrorInfo, TaskBody } from '../../../libs/protocol/src';

/** The DCE phases this site's model takes (its config's phases, phaseNames, phaseTimes). */
export interface SitePhases {
  count: number;
  /** Absent when the site's model does not name its phases: then only the count is checked. */
  names?: readonly string[];
  times?: readonly number[];
}

/** Nominal times closer than this are the same protocol (rounding in a config file). */
const TIME_TOLERANCE_S = 1;

const listed = (count: number, names?: readonly string[], times?: readonly number[]) =>
  `${count} phase${count === 1 ? '' : 's'}` +
  (names ? ` (${names.map((n, i) => (times ? `${n} ${times[i]} s` : n)).join(', ')})` : '');

/**
 * A task whose plan names the model's phases must match the phases this site's model and cohort
 * were loaded for: otherwise the site would train or evaluate on other images than the run means
 * (a four-phase plan at a site preprocessed for six). Declined with PHASE_MISMATCH and both lists.
 * Tasks without `phases` (older coordinators, plans that name none) are not checked.
 */
export function phaseMismatch(task: TaskBody, site: SitePhases | undefined): ProtocolErrorInfo | undefined {
  const planned = task.config.phases;
  if (!planned || !site) return undefined;
  const sameNames =
    planned.names.length === site.count &&
    (!site.names || planned.names.every((n, i) => n === site.names![i]));
  const sameTimes =
    !planned.times ||
    !site.times ||
    planned.times.every((t, i) => Math.abs(t - (site.times as readonly number[])[i]) <= TIME_TOLERANCE_S);
  if (sameNames && sameTimes) return undefined;
  return {
    code: 'PHASE_MISMATCH',
    reason:
      `the run's model takes ${listed(planned.names.length, planned.names, planned.times)}; ` +
      `this site's model and cohort were loaded for ${listed(site.count, site.names, site.times)}: ` +
      `restart the agent with a --model-config whose phases/phaseNames/phaseTimes are the plan's`,
  };
}
