import { privacyView, PrivacyView } from './privacy-view';
import { BadRequestException, ConflictException, Inject, Injectable, NotFoundException } from '@nestjs/common';
import { createHash, randomBytes } from 'node:crypto';
import { Log } from '../../../../libs/common/src';
import { EvaluationView, evaluationView } from '../evaluation/evaluation-view';
import { PairedComparisonView, pairedView } from '../evaluation/paired-results';
import { PAIRED_EVALUATION_ROUND } from '../../../../libs/federated/src';
import { COORDINATOR_LOG } from '../logging/nest-log-adapter';
import { BlobStore } from '../models/blob-store';
import { EvaluationRecord, MetricRecord, RoundRecord, RunRecord } from '../persistence/records';
import { COORDINATOR_STORE, CoordinatorStore } from '../persistence/repositories';
import { RunPlanDto } from './dto/run-plan.dto';
import { canonicalPlan, PlanError, planFromBody, validatePlan } from './run-plan';
import { RUN_TRANSITIONS, RunAction } from './run-state';

export interface RunDetail extends Omit<RunRecord, 'planJson'> {
  plan: RunPlanDto;
  rounds: RoundRecord[];
}

export interface RunResults {
  runId: string;
  state: RunRecord['state'];
  metrics: MetricRecord[];
  evaluations: EvaluationRecord[];
  /** The rows above grouped: every-k and final evaluations of the global model, the cross-site matrix. */
  evaluation: EvaluationView;
  /**
   * The plan's `evaluation.compareWith`: the final global against each named model, sites combined
   * by fixed effect (difference, 95 % CI, p, Q, I², per-site rows); [] before the paired round ran.
   */
  paired: PairedComparisonView[];
  /** The plan's privacy settings and the ε spent so far; null when the plan has no privacy section. */
  privacy: PrivacyView | null;
  /** Sites that refused the run's plan (consent), from the audit log, oldest first. */
  planRefusals: PlanRefusal[];
}

export interface PlanRefusal {
  siteId: string;
  code: string;
  reason: string | null;
  at: string;
}

/** The audit action of a site's refusal of a plan (the engine's `plan.refused`). */
const PLAN_REFUSED = 'plan.refused';

/**
 * Runs: created from a checked plan, then moved through the run state machine (run-state.ts).
 * Every transition is one conditional UPDATE, so two admins pressing "stop" cannot both win and a
 * restart finds each run exactly where it was.
 */
@Injectable()
export class RunsService {
  constructor(
    @Inject(COORDINATOR_STORE) private readonly store: CoordinatorStore,
    @Inject(COORDINATOR_LOG) private readonly log: Log,
    private readonly blobs: BlobStore,
  ) {}

  async create(body: unknown): Promise<RunDetail> {
    let plan: RunPlanDto;
    try {
      plan = validatePlan(planFromBody(body));
    } catch (err) {
      if (err instanceof PlanError) throw new BadRequestException({ message: err.problems, error: 'Invalid run plan' });
      throw err;
    }
    await this.checkSites(plan);
    const missing = await this.missingModels(plan);
    if (missing.length) throw new BadRequestException({ message: missing, error: 'Invalid run plan' });
    const planJson = canonicalPlan(plan);
    const now = new Date();
    const run: RunRecord = {
      id: newRunId(now),
      name: plan.name ?? 'unnamed run',
      planJson,
      planDigest: createHash('sha512').update(planJson).digest('hex'),
      state: 'created',
      createdAt: now.toISOString(),
    };
    await this.store.runs.insert(run);
    this.log.info({ run: run.id, runName: run.name }, 'run created');
    return this.detail(run);
  }

  async list(): Promise<Omit<RunRecord, 'planJson'>[]> {
    return (await this.store.runs.list()).map(withoutPlanText);
  }

  async get(id: string): Promise<RunDetail> {
    return this.detail(await this.require(id));
  }

  async start(id: string): Promise<RunDetail> {
    const run = await this.require(id);
    const plan = JSON.parse(run.planJson) as RunPlanDto;
    // Checked again here: the model may have been removed since the run was created, and a run
    // must not start only to fail when its first round is due.
    const missing = await this.missingModels(plan);
    if (missing.length) throw new ConflictException(`run ${id} cannot start: ${missing.join('; ')}`);
    const eligible = await this.eligibleSites(plan);
    if (eligible.length < plan.quorum.minSites) {
      throw new ConflictException(
        `run ${id} needs ${plan.quorum.minSites} site(s) for its quorum but only ${eligible.length} are enrolled and not revoked` +
          (eligible.length ? ` (${eligible.join(', ')})` : ''),
      );
    }
    return this.transition(run, 'start', { startedAt: new Date().toISOString() });
  }

  async stop(id: string, reason: string): Promise<RunDetail> {
    return this.transition(await this.require(id), 'stop', { endedAt: new Date().toISOString(), reason });
  }

  async results(id: string): Promise<RunResults> {
    const run = await this.require(id);
    const metrics = await this.store.metrics.listForRun(id);
    const evaluations = await this.store.evaluations.listForRun(id);
    const plan = JSON.parse(run.planJson) as RunPlanDto;
    return {
      runId: id,
      state: run.state,
      metrics,
      evaluations,
      evaluation: evaluationView(evaluations, metrics),
      paired: pairedView(
        metrics,
        plan.evaluation?.compareWith,
        (await this.store.rounds.listForRun(id)).find(
          (r) => r.stage === 'evaluate' && r.round === PAIRED_EVALUATION_ROUND,
        )?.inputDigest ?? null,
      ),
      privacy: privacyView(plan, metrics),
      planRefusals: (await this.store.audit.query({ action: PLAN_REFUSED, target: id, limit: 1000 }))
        .map((a) => ({
          siteId: a.actor.replace(/^site:/, ''),
          code: String(a.detail?.code ?? ''),
          reason: typeof a.detail?.reason === 'string' ? a.detail.reason : null,
          at: a.at,
        }))
        .reverse(),
    };
  }

  /** The plan's models (initial, compared) that the blob store lacks, one line each. */
  private async missingModels(plan: RunPlanDto): Promise<string[]> {
    const missing: string[] = [];
    if (plan.initialModel && !(await this.blobs.has(plan.initialModel)))
      missing.push(missingModel(plan.initialModel));
    for (const [i, digest] of (plan.evaluation.compareWith ?? []).entries())
      if (!(await this.blobs.has(digest)))
        missing.push(missingModel(digest).replace(/^initialModel/, `evaluation.compareWith[${i}]`));
    return missing;
  }

  private async transition(
    run: RunRecord,
    action: RunAction,
    changes: Pick<RunRecord, 'startedAt' | 'endedAt' | 'reason'>,
  ): Promise<RunDetail> {
    const { from, to } = RUN_TRANSITIONS[action];
    const moved = await this.store.runs.transition(run.id, from, to, changes);
    if (!moved) {
      const current = (await this.store.runs.get(run.id))?.state ?? run.state;
      throw new ConflictException(`cannot ${action} run ${run.id}: it is ${current} (${action} needs ${from.join(' or ')})`);
    }
    this.log.info({ run: run.id, from: run.state, to }, `run ${action}`);
    return this.detail(moved);
  }

  private async require(id: string): Promise<RunRecord> {
    const run = await this.store.runs.get(id);
    if (!run) throw new NotFoundException(`run "${id}" does not exist`);
    return run;
  }

  private async detail(run: RunRecord): Promise<RunDetail> {
    return {
      ...withoutPlanText(run),
      plan: JSON.parse(run.planJson) as RunPlanDto,
      rounds: await this.store.rounds.listForRun(run.id),
    };
  }

  /** A listed site must be enrolled and not revoked; otherwise the plan names the wrong site. */
  private async checkSites(plan: RunPlanDto): Promise<void> {
    if (!Array.isArray(plan.sites)) return;
    const problems: string[] = [];
    for (const id of plan.sites) {
      const site = await this.store.sites.get(id);
      if (!site) problems.push(`sites: "${id}" is not enrolled`);
      else if (site.revokedAt) problems.push(`sites: "${id}" was revoked on ${site.revokedAt}`);
    }
    if (problems.length) throw new BadRequestException({ message: problems, error: 'Invalid run plan' });
  }

  private async eligibleSites(plan: RunPlanDto): Promise<string[]> {
    const active = (await this.store.sites.list()).filter((s) => !s.revokedAt).map((s) => s.id);
    return Array.isArray(plan.sites) ? active.filter((id) => plan.sites!.includes(id)) : active;
  }
}

function withoutPlanText(run: RunRecord): Omit<RunRecord, 'planJson'> {
  const { planJson: _planJson, ...rest } = run;
  return rest;
}

/** Sortable by creation time and unguessable enough not to collide: `r-20260101-120000-1a2b3c`. */
function newRunId(now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `r-${stamp}-${randomBytes(3).toString('hex')}`;
}

function missingModel(digest: string): string {
  return `initialModel: no model ${digest.slice(0, 16)}… in the blob store (upload it first with POST /models)`;
}
