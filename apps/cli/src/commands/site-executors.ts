import { InputError, Log } from '../../../../libs/common/src';
import type { ModelConfig } from '../../../../libs/model/src/network/config';
import type { CohortCounts } from '../../../../libs/protocol/src';
import type { ExecutorSet } from '../../../site-agent/src/executor';
import type { SiteDpSgd } from '../../../site-agent/src/executors/record-privacy';
import { checkCohortPhases } from './model-inputs';

/**
 * A site's cohort loaded and preprocessed for the model, and the stage executors on it: what
 * `phcc-fed agent` runs its tasks with, and what `phcc-fed simulate` gives each simulated site,
 * so a site trains on the same tensors either way. Prints the cohort report through `out`.
 */
export async function loadSiteExecutors(
  cohortDir: string,
  config: ModelConfig,
  /** The site's state folder: optimiser moments between a run's rounds stay here. */
  stateDir: string,
  log: Log,
  out: (line: string) => void,
  /** Let manifest paths leave the cohort folder (`--allow-outside-paths`). */
  options: { allowPathsOutside?: boolean; dpSgd?: SiteDpSgd } = {},
): Promise<{ executors: ExecutorSet; counts: CohortCounts }> {
  const { loadCohort, formatCohortReport, phaseTimingProblem } = await import('../../../../libs/imaging/src');
  const { cohortData, FileOptimiserStates, modelExecutors } =
    await import('../../../site-agent/src/executors');
  const cohort = await loadCohort(cohortDir, {
    size: config.imageSize,
    slices: config.intensityChannels,
    phases: config.phases,
    nominalPhaseTimes: config.phaseTimes,
    allowPathsOutside: options.allowPathsOutside,
    log,
  });
  for (const line of formatCohortReport(cohort.report)) out(line);
  checkCohortPhases(cohort.report, config, `--cohort ${cohortDir}`);
  const data = cohortData(cohort);
  const samples = await data();
  if (samples.length === 0) throw new InputError(`--cohort ${cohortDir}: no usable patients`);
  const timing = phaseTimingProblem(
    config.phaseNames,
    config.phaseTimes,
    samples.map((p) => p.phaseTimes),
  );
  if (timing) throw new InputError(`--cohort ${cohortDir}: ${timing}`, 'PHASE_MISMATCH');
  const { bySplit, labelled } = cohort.report;
  const total = (split: keyof typeof bySplit) =>
    bySplit[split].pos + bySplit[split].neg + bySplit[split].unlabelled;
  const counts = { train: total('train'), val: total('val'), test: total('test'), labelled };
  const executors = modelExecutors({
    modelConfig: config,
    data,
    log,
    optimiserStates: new FileOptimiserStates(stateDir),
    ...(options.dpSgd && { dpSgd: options.dpSgd }),
  });
  return { executors, counts };
}
