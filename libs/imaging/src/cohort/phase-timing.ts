/**
 * Does a site's data match the model's phase protocol? The loader picks, per patient, the stored
 * phases nearest the model's nominal times; when even the nearest are far off (a site whose
 * "arterial" phase is its portal venous one, or whose last phase is hepatobiliary where the model
 * means delayed) the model would learn or judge other images than it was built for. The check is
 * on the cohort's median time per phase, so one odd patient does not stop a site.
 */

/** A phase matches when its cohort median is within max(this, half its nominal time) of it. */
export const PHASE_TIME_TOLERANCE_S = 30;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * A sentence naming every phase whose cohort median time is off its nominal time, or undefined
 * when they match (or the model has no nominal times, or no patient has times).
 */
export function phaseTimingProblem(
  names: readonly string[] | undefined,
  nominal: readonly number[] | undefined,
  actualPerPatient: ReadonlyArray<readonly number[] | null | undefined>,
): string | undefined {
  if (!nominal) return undefined;
  const timed = actualPerPatient.filter((a): a is readonly number[] => !!a && a.length === nominal.length);
  if (timed.length === 0) return undefined;
  const off = nominal.flatMap((want, t) => {
    const had = median(timed.map((a) => a[t]));
    const tolerance = Math.max(PHASE_TIME_TOLERANCE_S, want / 2);
    return Math.abs(had - want) > tolerance
      ? [`${names?.[t] ?? `phase ${t + 1}`} at ${had} s (the model's is ${want} s ± ${tolerance})`]
      : [];
  });
  if (off.length === 0) return undefined;
  return `the cohort's phase times do not match the model's protocol (median of ${timed.length} patients with times): ${off.join('; ')}`;
}
