import { buildReport, DemoReport } from '../demo/report';
import type { RunPlanDto } from '../../../coordinator/src/runs/dto/run-plan.dto';
import { privacyView } from '../../../coordinator/src/runs/privacy-view';
import { pairedView } from '../../../coordinator/src/evaluation/paired-results';
import { PAIRED_EVALUATION_ROUND } from '../../../../libs/federated/src';
import type { InMemorySite } from './in-memory-site';
import type { SimulationOutcome } from './simulation';

/**
 * The simulated run's report in the demo's shape (so the two compare field by field), read from
 * the simulation's own coordinator store as `GET /runs/{id}` and `/results` would read it. Bytes
 * sent are what each in-memory site encoded (no envelopes or chunk framing in a simulation).
 */
export async function simulationReport(
  outcome: SimulationOutcome,
  sites: readonly InMemorySite[],
  wallSeconds: number,
): Promise<DemoReport> {
  const { store, runId } = outcome;
  const run = await store.runs.get(runId);
  const plan = JSON.parse(run!.planJson) as RunPlanDto;
  const rounds = await store.rounds.listForRun(runId);
  const metrics = await store.metrics.listForRun(runId);
  const report = buildReport(
    { id: runId, state: run!.state, reason: run!.reason, plan, rounds },
    {
      runId,
      state: run!.state,
      metrics,
      privacy: privacyView(plan, metrics),
      // As GET /runs/{id}/results serves it (runs.service.ts).
      paired: pairedView(
        metrics,
        plan.evaluation?.compareWith,
        rounds.find((r) => r.stage === 'evaluate' && r.round === PAIRED_EVALUATION_ROUND)?.inputDigest ??
          null,
      ),
      evaluations: (await store.evaluations.listForRun(runId)).map((e) => ({
        ...e,
        auc: e.auc ?? undefined,
        aucLow: e.aucLow ?? undefined,
        aucHigh: e.aucHigh ?? undefined,
      })),
    },
    sites.map((s) => s.siteId),
    () => '',
    wallSeconds,
  );
  const bytes = new Map(sites.map((s) => [s.siteId, s.bytesSent]));
  return { ...report, sites: report.sites.map((s) => ({ ...s, bytesSent: bytes.get(s.site) ?? 0 })) };
}
