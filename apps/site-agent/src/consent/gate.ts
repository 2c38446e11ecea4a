import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadApprovals } from './approvals';
import { ConsentDecision, decideConsent, SiteLimits } from './decide';
import { ConsentPlan } from './plan';
import { PlanSummary, renderPlanSummary } from './summary';

/**
 * Options of `ConsentGate`.
 * - `approve`: plan digests approved on the command line (`--approve HASH`, repeatable).
 * - `approvalsDir`: the approvals folder; re-read for every plan the agent has not approved yet,
 *   so an operator can approve a waiting run by dropping a file in it.
 * - `limits`: the site's standing limits, enforced even on approved plans.
 * - `ask`: an interactive prompt (the CLI passes one on a TTY): shown the plan, answers yes or
 *   no. A yes is written into the approvals folder, when there is one, so it is remembered.
 * - `show`: where the plan's summary is shown the first time the agent sees a plan (its log).
 */
export interface ConsentGateOptions {
  approve?: readonly string[];
  approvalsDir?: string;
  limits?: SiteLimits;
  ask?: (summary: PlanSummary, text: string) => Promise<boolean>;
  show?: (summary: PlanSummary, text: string) => void;
}

/**
 * The agent's consent check, per run plan: the plan signed into a task is summarised and shown,
 * its digest checked against the site's approvals and its settings against the site's limits
 * (`decideConsent`), with an interactive prompt as the last resort for a plan not yet approved.
 * Approved digests are remembered for the agent's life; refusals are decided afresh each time.
 */
export class ConsentGate {
  private readonly approved = new Set<string>();
  private readonly shown = new Set<string>();

  constructor(private readonly options: ConsentGateOptions) {
    // Bad flags or a bad folder fail at start-up, not at the first task.
    loadApprovals(options);
  }

  /** Approves one more plan digest for the agent's life (what `--approve` does at start-up). */
  approve(digest: string): void {
    for (const d of loadApprovals({ approve: [digest] })) this.approved.add(d);
  }

  async check(plan: unknown): Promise<ConsentDecision> {
    if (!plan || typeof plan !== 'object' || Array.isArray(plan)) {
      return {
        approved: false,
        digest: null,
        code: 'PLAN_MALFORMED',
        reason: 'the plan could not be read: the task carries no plan to review',
        summary: null,
      };
    }
    const approvals = new Set([...this.approved, ...loadApprovals(this.options)]);
    const policy = { approvals, limits: this.options.limits ?? {} };
    let decision = decideConsent(plan as ConsentPlan, policy);
    if (decision.summary && !this.shown.has(decision.summary.digest)) {
      this.shown.add(decision.summary.digest);
      this.options.show?.(decision.summary, renderPlanSummary(decision.summary));
    }
    if (!decision.approved && decision.code === 'PLAN_NOT_APPROVED' && decision.summary && this.options.ask) {
      const summary = decision.summary;
      if (await this.options.ask(summary, renderPlanSummary(summary))) {
        this.remember(summary.digest);
        decision = decideConsent(plan as ConsentPlan, {
          ...policy,
          approvals: new Set([...approvals, summary.digest]),
        });
      }
    }
    if (decision.approved) this.approved.add(decision.digest);
    return decision;
  }

  private remember(digest: string): void {
    this.approved.add(digest);
    const dir = this.options.approvalsDir;
    if (dir) {
      writeFileSync(
        join(dir, `${digest}.approved`),
        `${digest}\napproved at the agent's prompt on ${new Date().toISOString()}\n`,
        { mode: 0o600 },
      );
    }
  }
}
