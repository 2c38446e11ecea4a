/**
 * Phase timing for the dynamic tokens. A dynamic token is the change between consecutive phases,
 * Δf_t = f_t − f_{t−1}: how much the lesion enhanced or washed out between them. How much it
 * changes depends on how long it had: a site whose arterial phase comes at 20 s instead of the
 * protocol's 35 s shows less wash-in for the same tumour. When the model has nominal phase times
 * (its configuration's `phaseTimes`) and the patient's actual times are known (DICOM headers or
 * the manifest's `phase_times`), Δf_t is rescaled to the nominal interval,
 *   Δf_t × (τ_t − τ_{t−1}) / (a_t − a_{t−1}),
 * a first-order (constant-rate) correction, so a token means "change over the protocol's
 * interval" at every site. The factor is bounded to [1/4, 4] (nearly coincident phases must not
 * blow a token up) and is exactly 1 whenever either time is unknown or an interval is not
 * positive, which keeps today's behaviour for cohorts without times. No parameters: weights are
 * the same with or without it.
 */

/** The largest stretch (and 1 / the smallest) applied to a dynamic token. */
export const DYNAMIC_SCALE_LIMIT = 4;

/**
 * T − 1 factors for a patient's dynamic tokens (phase order as the model takes them), from the
 * model's nominal times and the patient's actual ones; all 1 when either is missing.
 */
export function dynamicTokenScales(
  phases: number,
  nominal: readonly number[] | undefined,
  actual: readonly number[] | null | undefined,
): Float32Array {
  const scales = new Float32Array(Math.max(0, phases - 1)).fill(1);
  if (!nominal || !actual || nominal.length !== phases || actual.length !== phases) return scales;
  for (let t = 1; t < phases; t++) {
    const want = nominal[t] - nominal[t - 1];
    const had = actual[t] - actual[t - 1];
    if (!(want > 0) || !(had > 0)) continue;
    scales[t - 1] = Math.min(DYNAMIC_SCALE_LIMIT, Math.max(1 / DYNAMIC_SCALE_LIMIT, want / had));
  }
  return scales;
}

/** The factors of a batch of patients, [count × (T − 1)], or undefined when every factor is 1. */
export function batchDynamicScales(
  phases: number,
  nominal: readonly number[] | undefined,
  actualPerPatient: ReadonlyArray<readonly number[] | null | undefined>,
): Float32Array | undefined {
  if (!nominal || phases < 2) return undefined;
  const out = new Float32Array(actualPerPatient.length * (phases - 1));
  actualPerPatient.forEach((actual, k) =>
    out.set(dynamicTokenScales(phases, nominal, actual), k * (phases - 1)),
  );
  return out.every((s) => s === 1) ? undefined : out;
}
