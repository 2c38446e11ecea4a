import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../../../../libs/common/src';
import { NoiseSource } from '../../../../libs/federated/src/privacy/dp/gaussian';
import { GaussianStep, RdpAccountant } from '../../../../libs/federated/src/privacy/dp/rdp-accountant';
import { checkDpSgdOptions, DpSgdOptions, TrainHistory } from '../../../../libs/model/src/training';

/**
 * The site's own record-level DP-SGD setting (`phcc-fed agent --dp-sgd-clip C --dp-sgd-noise σ`):
 * the site's choice, not the plan's, because the guarantee is to its own patients.
 */
export interface SiteDpSgd extends DpSgdOptions {
  /** δ of the reported (ε, δ); should be well under 1 / the site's training patients. */
  delta: number;
  /** Where the ledger survives a restart (the agent's state folder); absent = in memory. */
  stateDir?: string;
  /** Tests only: a seeded source. Default: the OS CSPRNG. */
  noise?: NoiseSource;
}

export function checkSiteDpSgd(dp: SiteDpSgd): void {
  checkDpSgdOptions(dp);
  if (!(dp.delta > 0 && dp.delta < 1))
    throw new InputError(`DP-SGD delta must be in (0, 1) (got ${dp.delta})`);
}

/** What one fine-tune task spent on the site's patients, and the run's total so far. */
export interface RecordPrivacySpent {
  /** ε of this task's steps alone. */
  roundEpsilon: number;
  /** ε of every fine-tune step this site has released in the run (RDP composition). */
  runEpsilon: number;
  delta: number;
  steps: number;
  sampleRate: number;
}

/**
 * Record-level accountant per run: each released fine-tune task composes `steps` subsampled
 * Gaussian steps with q = batch / training patients. Fixed-size shuffled batches stand in for the
 * Poisson sampling the RDP bound assumes (what Opacus and TF Privacy report too; docs/PRIVACY.md).
 * The composed steps are written to `<state>/dp-sgd/<run>.json`, so a restarted agent keeps counting.
 */
export class RecordPrivacyLedger {
  private readonly memory = new Map<string, GaussianStep[]>();

  constructor(private readonly dp: SiteDpSgd) {
    checkSiteDpSgd(dp);
  }

  private file(runId: string): string | undefined {
    if (!this.dp.stateDir) return undefined;
    const dir = join(this.dp.stateDir, 'dp-sgd');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return join(dir, `${createHash('sha256').update(runId).digest('hex').slice(0, 32)}.json`);
  }

  private load(runId: string): GaussianStep[] {
    const file = this.file(runId);
    if (!file) return this.memory.get(runId) ?? [];
    if (!existsSync(file)) return [];
    try {
      const parsed = JSON.parse(readFileSync(file, 'utf8')) as { runId: string; steps: GaussianStep[] };
      if (parsed.runId !== runId || !Array.isArray(parsed.steps)) throw new Error('not this run');
      return parsed.steps;
    } catch (err) {
      // Never restart the count silently: that would under-report ε.
      throw new InputError(
        `${file}: unreadable DP-SGD ledger (${(err as Error).message}); restore or remove it`,
      );
    }
  }

  private save(runId: string, steps: GaussianStep[]): void {
    const file = this.file(runId);
    if (!file) {
      this.memory.set(runId, steps);
      return;
    }
    writeFileSync(`${file}.tmp`, JSON.stringify({ runId, steps }), { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  }

  /** Records a released task's steps and returns what it and the run so far cost. */
  spend(runId: string, trained: NonNullable<TrainHistory['dpSgd']>, steps: number): RecordPrivacySpent {
    const step: GaussianStep = {
      noiseMultiplier: trained.noiseMultiplier,
      sampleRate: Math.min(1, trained.batchSize / trained.trainPatients),
      steps,
    };
    const all = [...this.load(runId), step];
    this.save(runId, all);
    const run = new RdpAccountant();
    for (const s of all) run.compose(s);
    return {
      roundEpsilon: new RdpAccountant().compose(step).spent(this.dp.delta).epsilon,
      runEpsilon: run.spent(this.dp.delta).epsilon,
      delta: this.dp.delta,
      steps,
      sampleRate: step.sampleRate,
    };
  }
}
